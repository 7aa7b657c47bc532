"""What one run of the load generator counted (`LoadResult`); see dmvpn.peers.load for the terms."""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LoadResult:
    spokes: int
    offered_rate: float | None  # requests/s asked for (None: as fast as the window allows)
    window: int
    requests: int = 0  # new requests issued
    sent: int = 0  # packets sent (requests + retransmissions)
    retransmissions: int = 0
    ok: int = 0
    naks: int = 0
    errors: int = 0  # Error Indications about one of our requests
    forwarded: int = 0  # resolution requests the DUT forwarded to the target spoke
    lost: int = 0
    late: int = 0
    duplicates: int = 0
    unmatched: int = 0
    stale: int = 0  # packets already queued when the run started, dropped unread
    bad_checksum: int = 0  # replies whose NHRP checksum is wrong (not taken as replies)
    answered_after_retransmission: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)  # completed ok/forwarded per kind
    first_send: float = 0.0
    last_issue: float = 0.0
    last_reply: float = 0.0
    end: float = 0.0
    cpu_s: float = 0.0
    latencies: array = field(default_factory=lambda: array("d"))  # seconds, per ok/forwarded request
    send_errors: int = 0
    timed_out: bool = False  # the run hit max_seconds

    @property
    def completed(self) -> int:
        return self.ok + self.naks + self.errors + self.forwarded

    @property
    def answered(self) -> int:
        return self.completed

    @property
    def loss_ratio(self) -> float:
        return self.lost / self.requests if self.requests else 0.0

    @property
    def issue_seconds(self) -> float:
        return max(1e-9, self.last_issue - self.first_send)

    @property
    def exchange_seconds(self) -> float:
        """First send to the last reply (or the end, without replies)."""
        return max(1e-9, (self.last_reply or self.end) - self.first_send)

    @property
    def exchanges_per_s(self) -> float:
        return self.completed / self.exchange_seconds

    @property
    def achieved_rate(self) -> float:
        """New requests per second actually issued."""
        return self.requests / self.issue_seconds if self.requests > 1 else float(self.requests)

    def percentile_ms(self, q: float) -> float:
        if not self.latencies:
            return math.nan
        data = sorted(self.latencies)
        k = min(len(data) - 1, max(0, math.ceil(q / 100.0 * len(data)) - 1))
        return data[k] * 1000.0

    def summary(self) -> dict[str, Any]:
        return {
            "spokes": self.spokes, "offered_rate": self.offered_rate, "window": self.window,
            "requests": self.requests, "sent": self.sent, "retransmissions": self.retransmissions,
            "ok": self.ok, "naks": self.naks, "errors": self.errors, "forwarded": self.forwarded,
            "lost": self.lost, "late": self.late, "duplicates": self.duplicates, "unmatched": self.unmatched,
            "stale": self.stale, "bad_checksum": self.bad_checksum,
            "loss_ratio": round(self.loss_ratio, 6), "exchanges_per_s": round(self.exchanges_per_s, 1),
            "achieved_rate": round(self.achieved_rate, 1),
            "p50_ms": round(self.percentile_ms(50), 3), "p99_ms": round(self.percentile_ms(99), 3),
            "cpu_s": round(self.cpu_s, 3), "timed_out": self.timed_out,
        }
