"""The raw primitive: send exactly these bytes, collect what comes back within T."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from dmvpn.wire.fastparse import GrePacket, ParseError, parse_ipv4_gre

from .base import Link


@dataclass
class Reply:
    at: float  # seconds after the first send
    raw: bytes
    packet: GrePacket | None  # None when it could not be parsed
    error: str = ""  # why it could not be parsed

    @property
    def nhrp_type(self) -> int | None:
        """The NHRP type byte even of an unparsable packet, when it is there."""
        if self.packet is not None and self.packet.nhrp is not None:
            return self.packet.nhrp.op_type
        ihl = (self.raw[0] & 0x0F) * 4 if self.raw else 20
        gre = self.raw[ihl : ihl + 4]
        if len(gre) == 4 and gre[2:4] == b"\x20\x01":
            offset = ihl + 4 + 4 * bool(gre[0] & 0x80) + 4 * bool(gre[0] & 0x20) + 4 * bool(gre[0] & 0x10)
            if len(self.raw) > offset + 17:
                return self.raw[offset + 17]
        return None


@dataclass
class Exchange:
    """What was sent and everything that came back, with arrival times relative to the first send."""

    sent: list[bytes]
    replies: list[Reply] = field(default_factory=list)

    def nhrp(self, op_type: int | None = None) -> list[GrePacket]:
        """Parsed NHRP replies, optionally of one type."""
        return [
            r.packet for r in self.replies
            if r.packet is not None and r.packet.nhrp is not None and (op_type is None or r.packet.nhrp.op_type == op_type)
        ]

    def unparsable(self) -> list[Reply]:
        """Replies that are not well-formed IPv4/GRE/NHRP: malformed answers are answers too."""
        return [r for r in self.replies if r.packet is None]


def send_and_collect(
    link: Link,
    packets: Iterable[bytes],
    window: float,
    accept: Callable[[GrePacket | None, bytes], bool] = lambda parsed, raw: True,
    stop_after: int | None = None,
) -> Exchange:
    """Send `packets` as they are, then collect the accepted packets arriving within `window` s.

    Stops early once `stop_after` packets were accepted. Unaccepted packets are dropped (other
    traffic in the lab namespace).
    """
    packets = list(packets)
    start = time.monotonic()
    for packet in packets:
        link.send(packet)
    exchange = Exchange(packets)
    deadline = start + window
    # What arrived within the window counts even when reading it took longer (a loaded machine):
    # after the deadline, what is already waiting is still read, without waiting for more.
    for _ in range(100000):
        left = deadline - time.monotonic()
        raw = link.recv(max(left, 0.0))
        if raw is None:
            break
        error = ""
        try:
            parsed: GrePacket | None = parse_ipv4_gre(raw)
        except ParseError as exc:
            parsed, error = None, str(exc)
        if accept(parsed, raw):
            exchange.replies.append(Reply(time.monotonic() - start, raw, parsed, error))
            if stop_after is not None and len(exchange.replies) >= stop_after:
                break
    return exchange
