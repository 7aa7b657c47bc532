"""What every fake peer shares: identities, request IDs, the sans-I/O peer interface, the loop.

Peers are protocol state machines without I/O: `handle(packet, now)` and `on_timer(now)` return
the packets to send. A `PeerLoop` carries them over a link (a raw GRE socket in the lab's
namespace, or an in-memory link to an in-process responder) and owns the clock and the timers,
so one process can run thousands of emulated spokes and the same code runs in unit tests.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from dmvpn.wire.fastparse import GrePacket, ParseError, parse_ipv4_gre


class Link(Protocol):
    """Carries whole IPv4 packets (outer header included)."""

    def send(self, packet: bytes) -> None: ...

    def recv(self, timeout: float = 0.0) -> bytes | None: ...


@dataclass(frozen=True)
class Tunnel:
    """The DMVPN cloud's parameters as a peer must match them."""

    gre_key: int | None = 42
    holding_time: int = 600
    mtu: int = 1400
    password: bytes | None = None  # Cisco plaintext authentication, when the cloud uses it


class ReqIds:
    """Request IDs: per RFC 2332 §5.2.0.1 a retransmission reuses its ID; new requests get new ones."""

    def __init__(self, start: int = 1) -> None:
        self._counter = itertools.count(start)

    def next(self) -> int:
        return next(self._counter) & 0xFFFFFFFF or next(self._counter) & 0xFFFFFFFF


class Peer:
    """A sans-I/O protocol participant reachable at one or more NBMA addresses."""

    #: NBMA addresses the loop delivers to this peer (outer destination of received packets)
    addresses: tuple[str, ...] = ()

    def receive(self, raw: bytes, now: float) -> list[bytes]:
        """A packet as it arrived; unparsable ones are dropped, as a kernel or parser would."""
        try:
            packet = parse_ipv4_gre(raw)
        except ParseError:
            return []
        return self.handle(packet, now)

    def handle(self, packet: GrePacket, now: float) -> list[bytes]:
        return []

    def next_deadline(self) -> float | None:
        return None

    def on_timer(self, now: float) -> list[bytes]:
        return []


@dataclass
class Received:
    """A packet the loop received, parsed or not."""

    at: float
    raw: bytes
    packet: GrePacket | None
    error: str = ""


class PeerLoop:
    """Drives peers over a link: delivers received packets by outer destination, fires timers."""

    def __init__(self, link: Link, peers: Iterable[Peer] = (), clock: Callable[[], float] = time.monotonic) -> None:
        self.link = link
        self.clock = clock
        self.by_address: dict[str, Peer] = {}
        self.peers: list[Peer] = []
        self.unclaimed: list[Received] = []  # packets no peer is listening for
        self._timers: list[tuple[float, int, Peer]] = []
        self._seq = itertools.count()
        for peer in peers:
            self.add(peer)

    def add(self, peer: Peer) -> Peer:
        self.peers.append(peer)
        for address in peer.addresses:
            self.by_address[address] = peer
        self._arm(peer)
        return peer

    def _arm(self, peer: Peer) -> None:
        deadline = peer.next_deadline()
        if deadline is not None:
            heapq.heappush(self._timers, (deadline, next(self._seq), peer))

    def send(self, packets: Iterable[bytes]) -> None:
        for packet in packets:
            self.link.send(packet)

    def kick(self, peer: Peer, packets: Iterable[bytes]) -> None:
        """Send what a peer produced outside `handle`/`on_timer` (e.g. `spoke.register(now)`)."""
        self.send(packets)
        self._arm(peer)

    def step(self, timeout: float) -> None:
        """Wait up to `timeout` for one packet or the next timer, and process it."""
        now = self.clock()
        while self._timers and self._timers[0][0] <= now:
            _, _, peer = heapq.heappop(self._timers)
            deadline = peer.next_deadline()
            if deadline is not None and deadline > now:
                heapq.heappush(self._timers, (deadline, next(self._seq), peer))
                continue
            self.send(peer.on_timer(now))
            self._arm(peer)
        if self._timers:
            timeout = max(0.0, min(timeout, self._timers[0][0] - self.clock()))
        raw = self.link.recv(timeout)
        if raw is None:
            return
        now = self.clock()
        destination = ".".join(str(b) for b in raw[16:20]) if len(raw) >= 20 else ""
        peer = self.by_address.get(destination)
        if peer is None:
            try:
                self.unclaimed.append(Received(now, raw, parse_ipv4_gre(raw)))
            except ParseError as exc:
                self.unclaimed.append(Received(now, raw, None, str(exc)))
            return
        self.send(peer.receive(raw, now))
        self._arm(peer)

    def run_until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Run until `done()` is true (returns True) or `timeout` seconds pass (returns False)."""
        deadline = self.clock() + timeout
        while not done():
            left = deadline - self.clock()
            if left <= 0:
                return False
            self.step(min(left, 0.05))
        return True

    def run_for(self, duration: float) -> None:
        deadline = self.clock() + duration
        while (left := deadline - self.clock()) > 0:
            self.step(min(left, 0.05))
