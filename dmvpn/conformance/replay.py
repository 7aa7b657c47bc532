"""Replaying a case's packets on a freshly booted DUT: does it answer, stay silent, or crash?

Used by the run policy to tell how often a crash reproduces, and by `dmvpn replay PCAP`.
Packets are sent as captured (the link's interlock still applies), with their original spacing
(gaps capped at `max_gap` seconds), then the DUT's health and log are read.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dmvpn.transport import PcapRecorder


@dataclass(frozen=True)
class ReplayOutcome:
    kind: str  # "crashes", "answers" or "silent"
    signature: str = ""  # for "crashes"
    answers: int = 0  # packets the DUT sent back
    sent: int = 0

    def words(self) -> str:
        if self.kind == "crashes":
            return f"crashes: {self.signature}"
        return f"{self.kind} ({self.answers} packets back for {self.sent} sent)"


def health_of(dut):
    """The DUT adapter's health state; a failing check is a DUT that is not known alive."""
    from dmvpn.dut import HealthState

    try:
        return dut.health_state()
    except Exception as exc:
        return HealthState(False, f"health check failed: {type(exc).__name__}: {exc}")


def write_packets(path: Path, packets: list[tuple[float, bytes]]) -> None:
    recorder = PcapRecorder(path)
    try:
        for ts, packet in packets:
            recorder.write(packet, ts)
    finally:
        recorder.close()


def read_packets(path: str | Path) -> list[tuple[float, bytes]]:
    """(timestamp, IP packet) from a pcap of raw IP (LINKTYPE_RAW), Ethernet or Linux cooked frames."""
    data = Path(path).read_bytes()
    if len(data) < 24:
        raise ValueError(f"{path}: not a pcap file")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError(f"{path}: not a classic pcap file (pcapng: convert with `editcap -F pcap`)")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack_from(endian + "I", data, 20)[0]
    header = {101: 0, 228: 0, 1: 14, 113: 16}.get(linktype)
    if header is None:
        raise ValueError(f"{path}: link type {linktype} is not raw IP, Ethernet or Linux cooked")
    out, offset = [], 24
    while offset + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack_from(endian + "IIII", data, offset)
        offset += 16
        frame = data[offset : offset + caplen]
        offset += caplen
        packet = frame[header:]
        if packet and packet[0] >> 4 == 4:
            out.append((sec + frac / (1e9 if nano else 1e6), packet))
    return out


def replay(dut, link, packets: list[tuple[float, bytes]], settle: float = 1.0, max_gap: float = 1.0) -> ReplayOutcome:
    """Send `packets` to the DUT as it is now; then report what it did."""
    before = health_of(dut)
    mark = dut.log_mark()
    for _ in range(10000):
        if link.recv(0) is None:
            break
    dut_nbma = bytes(int(x) for x in dut.info.nbma.split("."))
    answers = 0

    def collect(until: float) -> None:
        nonlocal answers
        while (left := until - time.monotonic()) > 0:
            raw = link.recv(left)
            if raw is None:
                return
            if len(raw) >= 20 and raw[12:16] == dut_nbma:
                answers += 1

    previous = packets[0][0] if packets else 0.0
    for ts, packet in packets:
        collect(time.monotonic() + min(max(ts - previous, 0.0), max_gap))
        previous = ts
        link.send(packet)
    collect(time.monotonic() + settle)
    after = health_of(dut)
    why = ""
    if not after.alive:
        why = after.why
    elif before.ids and after.ids and before.ids != after.ids:
        why = "restarted"
    elif dut.answers_probe(link) is False:
        why = "alive but no answer to a valid registration"
    if why:
        return ReplayOutcome("crashes", dut.crash_signature(dut.log_since(mark)) or why, answers, len(packets))
    return ReplayOutcome("answers" if answers else "silent", "", answers, len(packets))


def replay_on_fresh_dut(dut, links: Callable[[object], object], packets: list[tuple[float, bytes]], **kwargs) -> ReplayOutcome:
    """Boot the DUT afresh (lab: a new lab), then `replay`."""
    dut.recover(force=True)
    return replay(dut, links(dut), packets, **kwargs)
