"""Evidence: every packet a peer sends or receives, into a pcap (LINKTYPE_RAW, IPv4/IPv6)."""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path
from typing import BinaryIO

LINKTYPE_RAW = 101


class PcapRecorder:
    """A classic pcap file of raw IP packets, written as they pass, safe from several threads."""

    def __init__(self, path: str | Path, snaplen: int = 65535) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO | None = open(self.path, "wb")
        self._file.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, LINKTYPE_RAW))
        self._lock = threading.Lock()
        self.count = 0

    def write(self, packet: bytes, timestamp: float | None = None) -> None:
        ts = time.time() if timestamp is None else timestamp
        sec = int(ts)
        usec = int((ts - sec) * 1_000_000)
        with self._lock:
            if self._file is None:
                return
            self._file.write(struct.pack("<IIII", sec, usec, len(packet), len(packet)) + packet)
            self.count += 1

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> "PcapRecorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
