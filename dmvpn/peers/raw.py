"""The raw primitive: send exactly these bytes, collect what comes back within T."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from dmvpn.wire.fastparse import GrePacket, ParseError, parse_ipv4_gre

from .base import Link


@dataclass
class Exchange:
    """What was sent and everything that came back, with arrival times relative to the first send."""

    sent: list[bytes]
    replies: list[tuple[float, bytes, GrePacket | None]] = field(default_factory=list)

    def nhrp(self, op_type: int | None = None) -> list[GrePacket]:
        """Parsed NHRP replies, optionally of one type."""
        return [
            p for _, _, p in self.replies
            if p is not None and p.nhrp is not None and (op_type is None or p.nhrp.op_type == op_type)
        ]


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
    while (left := deadline - time.monotonic()) > 0:
        raw = link.recv(left)
        if raw is None:
            break
        try:
            parsed: GrePacket | None = parse_ipv4_gre(raw)
        except ParseError:
            parsed = None
        if accept(parsed, raw):
            exchange.replies.append((time.monotonic() - start, raw, parsed))
            if stop_after is not None and len(exchange.replies) >= stop_after:
                break
    return exchange
