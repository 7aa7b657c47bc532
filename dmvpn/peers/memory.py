"""An in-memory link to an in-process responder: the deliberately wrong DUTs of the self-tests.

The tester's packets are handed to the responder peer at once; what it answers is queued for the
tester. Deterministic and fast, and the same `Link` interface as the raw GRE socket.
"""

from __future__ import annotations

import collections
import time

from .base import Peer


class MemoryLink:
    """Connects the tester to `responder`; records everything in `log` as (direction, bytes)."""

    def __init__(self, responder: Peer, clock=time.monotonic) -> None:
        self.responder = responder
        self.clock = clock
        self.inbox: collections.deque[bytes] = collections.deque()
        self.log: list[tuple[str, bytes]] = []
        self.recorder = None

    def send(self, packet: bytes) -> None:
        self.log.append(("out", packet))
        if self.recorder is not None:
            self.recorder.write(packet)
        destination = ".".join(str(b) for b in packet[16:20]) if len(packet) >= 20 else ""
        if destination not in self.responder.addresses:
            # Addressed to another of the tester's own peers: deliver it locally, as the
            # namespace's kernel would.
            self.inbox.append(packet)
            return
        self.inbox.extend(self.responder.receive(packet, self.clock()))

    def tick(self) -> None:
        """Fire the responder's due timers (e.g. an in-process spoke's retransmissions)."""
        deadline = self.responder.next_deadline()
        now = self.clock()
        if deadline is not None and deadline <= now:
            self.inbox.extend(self.responder.on_timer(now))

    def recv(self, timeout: float = 0.0) -> bytes | None:
        end = self.clock() + timeout
        while True:
            self.tick()
            if self.inbox:
                packet = self.inbox.popleft()
                self.log.append(("in", packet))
                if self.recorder is not None:
                    self.recorder.write(packet)
                return packet
            left = end - self.clock()
            if left <= 0:
                return None
            time.sleep(min(left, 0.01))
