"""A raw IPv4 socket for GRE (IP protocol 47) in a network namespace.

It sends whole IPv4 packets (IP_HDRINCL), so one socket can speak for many emulated spokes with
their own NBMA addresses, and it receives every GRE packet addressed to the namespace. Holding it
open also stops the host kernel (which has no GRE) from answering GRE with ICMP unreachable.
"""

from __future__ import annotations

import select
import socket
import time

from .capture import PcapRecorder
from .interlock import Interlock
from .namespace import socket_in_netns

IPPROTO_GRE = 47


class GreSocket:
    """Send and receive IPv4/GRE packets as bytes; every packet checked and recorded."""

    def __init__(
        self,
        interlock: Interlock,
        netns: str | None = None,
        recorder: PcapRecorder | None = None,
        rcvbuf: int = 4 << 20,
        device: str | None = None,
    ) -> None:
        """`device`: send and receive on this interface only (SO_BINDTODEVICE), e.g. a testbed's
        tester interface; OSError when the namespace has no such interface."""
        self.interlock = interlock
        self.recorder = recorder
        self.sock = socket_in_netns(netns, socket.AF_INET, socket.SOCK_RAW, IPPROTO_GRE)
        self.device = device
        if device is not None:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
            except OSError:
                self.sock.close()
                raise
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.setblocking(False)
        self.sent = 0
        self.received = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, packet: bytes) -> None:
        """Send a complete IPv4 packet to its own destination address."""
        destination = socket.inet_ntoa(packet[16:20])
        self.interlock.check(destination)
        self.sock.sendto(packet, (destination, 0))
        self.sent += 1
        if self.recorder is not None:
            self.recorder.write(packet)

    def recv(self, timeout: float = 0.0) -> bytes | None:
        """The next GRE packet (IPv4 header included) within `timeout` seconds, or None."""
        try:
            packet = self.sock.recv(65535)
        except BlockingIOError:
            if timeout <= 0:
                return None
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                return None
            try:
                packet = self.sock.recv(65535)
            except BlockingIOError:
                return None
        self.received += 1
        if self.recorder is not None:
            self.recorder.write(packet)
        return packet

    def drain(self, duration: float) -> list[bytes]:
        """Everything that arrives within `duration` seconds."""
        deadline = time.monotonic() + duration
        out = []
        while (left := deadline - time.monotonic()) > 0:
            packet = self.recv(left)
            if packet is not None:
                out.append(packet)
        return out

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "GreSocket":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
