"""The tester's user-space ESP with keys an IKE daemon negotiated."""

from __future__ import annotations

import socket

from dmvpn.transport.capture import PcapRecorder
from dmvpn.transport.esp import EspLink
from dmvpn.transport.interlock import Interlock
from dmvpn.transport.namespace import socket_in_netns
from dmvpn.wire.esp import IPPROTO_ESP, IPPROTO_UDP, EspSA

from .keys import ChildSaKeys


class _NoPort:
    def close(self) -> None:
        pass


class IkeEspLink(EspLink):
    """:class:`EspLink` that leaves UDP 4500 to the tester's charon.

    EspLink binds UDP 4500 itself (so that the kernel does not answer NAT-T with port
    unreachable); next to a charon, charon holds that port (IKE and, for kernel-libipsec, ESP in
    UDP), and the raw sockets still see a copy of every ESP-in-UDP datagram.
    """

    def __init__(self, interlock: Interlock, outbound: dict[tuple[str, str], EspSA],
                 inbound: dict[int, EspSA], netns: str | None = None,
                 recorder: PcapRecorder | None = None) -> None:
        self.interlock = interlock
        self.outbound = outbound
        self.inbound = inbound
        self.recorder = recorder
        self.rejected = []
        self.esp = socket_in_netns(netns, socket.AF_INET, socket.SOCK_RAW, IPPROTO_ESP)
        self.udp = socket_in_netns(netns, socket.AF_INET, socket.SOCK_RAW, IPPROTO_UDP)
        for sock in (self.esp, self.udp):
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
            sock.setblocking(False)
        self.udp_port = _NoPort()
        self._pending = []

    @classmethod
    def from_child_sas(cls, interlock: Interlock, children: list[ChildSaKeys], netns: str | None = None,
                       mode: str = "tunnel", recorder: PcapRecorder | None = None) -> IkeEspLink:
        """A link holding the (outbound, inbound) SAs of ``children`` (the latest per peer wins)."""
        outbound, inbound = {}, {}
        for child in children:
            out, inb = child.esp_sas(mode)
            outbound[(child.local, child.remote)] = out
            inbound[child.spi_in] = inb
        return cls(interlock, outbound, inbound, netns=netns, recorder=recorder)
