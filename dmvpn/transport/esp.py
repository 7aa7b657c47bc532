"""ESP on the tester side, in user space (the host kernel has no ESP): a Link peers can use as is.

`EspLink.send(ip_gre_packet)` protects the packet with the outbound SA of its (source,
destination) pair and sends the ESP packet (or, with NAT-T, ESP in UDP 4500); `recv()` returns the
GRE packets that arrived ESP-protected and verified. What does not verify is kept in `rejected`
with the reason, so that cases can tell a DUT's bad ESP from silence. `send_raw()` sends exactly
the given bytes (for the ESP cases: bad ICV, replays, unknown SPIs).
"""

from __future__ import annotations

import select
import socket
import struct
import time
from dataclasses import dataclass

from dmvpn.wire.esp import IPPROTO_ESP, IPPROTO_UDP, NAT_T_PORT, EspError, EspSA

from .capture import PcapRecorder
from .interlock import Interlock
from .namespace import socket_in_netns


@dataclass
class Rejected:
    raw: bytes
    reason: str


class EspLink:
    """Tester-side ESP endpoint in a namespace, for any number of (local, remote) SA pairs."""

    def __init__(
        self,
        interlock: Interlock,
        outbound: dict[tuple[str, str], EspSA],
        inbound: dict[int, EspSA],
        netns: str | None = None,
        recorder: PcapRecorder | None = None,
        device: str | None = None,
    ) -> None:
        """`device`: send and receive on this interface only (SO_BINDTODEVICE)."""
        self.interlock = interlock
        self.outbound = outbound
        self.inbound = inbound
        self.recorder = recorder
        self.rejected: list[Rejected] = []
        self.esp = socket_in_netns(netns, socket.AF_INET, socket.SOCK_RAW, IPPROTO_ESP)
        self.udp = socket_in_netns(netns, socket.AF_INET, socket.SOCK_RAW, IPPROTO_UDP)
        for sock in (self.esp, self.udp):
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
            sock.setblocking(False)
        # Holding UDP 4500 open keeps the tester's kernel from answering NAT-T with port unreachable.
        self.udp_port = socket_in_netns(netns, socket.AF_INET, socket.SOCK_DGRAM)
        if device is not None:
            for sock in (self.esp, self.udp, self.udp_port):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
        self.udp_port.bind(("0.0.0.0", NAT_T_PORT))
        self._pending: list[bytes] = []

    def outbound_sa(self, local: str, remote: str | None = None) -> EspSA:
        """The outbound SA from `local` (to `remote`, or to the only peer `local` has an SA with)."""
        matches = [sa for (src, dst), sa in self.outbound.items() if src == local and remote in (None, dst)]
        if len(matches) != 1:
            raise EspError(f"{len(matches)} outbound SAs from {local}" + (f" to {remote}" if remote else ""))
        return matches[0]

    def send(self, packet: bytes) -> None:
        src, dst = socket.inet_ntoa(packet[12:16]), socket.inet_ntoa(packet[16:20])
        sa = self.outbound.get((src, dst))
        if sa is None:
            raise EspError(f"no outbound SA for {src} -> {dst}")
        self.send_raw(sa.protect(packet))

    def send_raw(self, packet: bytes) -> None:
        destination = socket.inet_ntoa(packet[16:20])
        self.interlock.check(destination)
        sock = self.udp if packet[9] == IPPROTO_UDP else self.esp
        sock.sendto(packet, (destination, 0))
        if self.recorder is not None:
            self.recorder.write(packet)

    def _read(self, timeout: float) -> bytes | None:
        ready, _, _ = select.select([self.esp, self.udp], [], [], max(0.0, timeout))
        for sock in ready:
            try:
                return sock.recv(65535)
            except BlockingIOError:
                continue
        return None

    def recv(self, timeout: float = 0.0) -> bytes | None:
        deadline = time.monotonic() + timeout
        while True:
            raw = self._read(deadline - time.monotonic())
            if raw is None:
                return None
            if raw[9] == IPPROTO_UDP:
                ihl = (raw[0] & 0x0F) * 4
                sport, dport = struct.unpack_from("!HH", raw, ihl)
                if dport != NAT_T_PORT:
                    continue  # other UDP in the namespace
            if self.recorder is not None:
                self.recorder.write(raw)
            inner = self.unprotect(raw)
            if inner is not None:
                if self.recorder is not None:
                    self.recorder.write(inner)
                return inner
            if time.monotonic() >= deadline:
                return None

    def unprotect(self, raw: bytes) -> bytes | None:
        """The GRE packet inside, or None (kept in `rejected` with the reason)."""
        ihl = (raw[0] & 0x0F) * 4
        offset = ihl + (8 if raw[9] == IPPROTO_UDP else 0)
        if len(raw) < offset + 8:
            self.rejected.append(Rejected(raw, "too short for ESP"))
            return None
        spi = struct.unpack_from("!I", raw, offset)[0]
        sa = self.inbound.get(spi)
        if sa is None:
            self.rejected.append(Rejected(raw, f"no inbound SA for SPI {spi:#x}"))
            return None
        try:
            return sa.unprotect(raw).packet
        except EspError as exc:
            self.rejected.append(Rejected(raw, f"{type(exc).__name__}: {exc}"))
            return None

    def close(self) -> None:
        for sock in (self.esp, self.udp, self.udp_port):
            sock.close()
