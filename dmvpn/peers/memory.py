"""An in-memory link to an in-process responder: the deliberately wrong DUTs of the self-tests.

The tester's packets are handed to the responder peer at once; what it answers is queued for the
tester. Deterministic and fast, and the same `Link` interface as the raw GRE socket.

What can still arrive is known here, unlike on a socket: the responder answers inside `send`, and
later only from its timers (`next_deadline`). So when the inbox is empty and the responder has no
timer pending at all (`settled`: an in-process hub always, a spoke before it has anything to
retransmit or refresh), nothing can come until the tester sends again, and `recv(timeout)` returns
None at once instead of sitting out the timeout. While a timer is pending the timeout is waited
out in real time as before, even when the timer is due after it: ending early there would bring
the tester's next step closer to the responder's timers than on a real link, and change what a
case sees (a retransmission that fell into the next window; RES-16 against its fault did). A hub's
bindings age by the clock without timers: the cases that let a holding time run out wait for it
explicitly (`ctx.wait`, which calls `let_time_pass`): with a `skip` for the responder's clock
(`InProcessDut` gives one) and no timer pending, that moves its clock on at once; else it sleeps.
One guard keeps a caller that polls until a
deadline from spinning: the early return is given once per quiet spell; asked again before
anything was sent, received or fired, the link waits as a socket would.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

from .base import Peer


class MemoryLink:
    """Connects the tester to `responder`; records everything in `log` as (direction, bytes)."""

    def __init__(
        self, responder: Peer, clock: Callable[[], float] = time.monotonic, skip: Callable[[float], None] | None = None,
    ) -> None:
        self.responder = responder
        self.clock = clock
        #: moves `clock` on by that many seconds (the responder's own clock): see `let_time_pass`
        self.skip = skip
        self.inbox: collections.deque[bytes] = collections.deque()
        self.log: list[tuple[str, bytes]] = []
        self.recorder = None
        #: counts what happened on the link (sends, deliveries, timers fired): see `recv`
        self._activity = 0
        self._quiet_at = -1  # `_activity` when recv last returned early

    def send(self, packet: bytes) -> None:
        self._activity += 1
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
            self._activity += 1
            self.inbox.extend(self.responder.on_timer(now))

    def settled(self) -> bool:
        """Nothing can arrive until the tester sends again: the inbox is empty and the responder
        has no timer pending."""
        return not self.inbox and self.responder.next_deadline() is None

    def let_time_pass(self, seconds: float) -> None:
        """`seconds` pass for the responder (what a case's `wait` does): at once when its clock can be
        moved on (`skip`) and it has no timer pending, as then it would do nothing meanwhile but
        age; else in real time."""
        self._activity += 1
        if self.skip is not None and self.responder.next_deadline() is None:
            self.skip(seconds)
        else:
            time.sleep(seconds)

    def recv(self, timeout: float = 0.0) -> bytes | None:
        end = self.clock() + timeout
        while True:
            self.tick()
            if self.inbox:
                packet = self.inbox.popleft()
                self._activity += 1
                self.log.append(("in", packet))
                if self.recorder is not None:
                    self.recorder.write(packet)
                return packet
            left = end - self.clock()
            if left <= 0:
                return None
            if self._quiet_at != self._activity and self.settled():
                self._quiet_at = self._activity
                return None  # nothing can come before the timeout ends (see the module docstring)
            time.sleep(min(left, 0.01))
