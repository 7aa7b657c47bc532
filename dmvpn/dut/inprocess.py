"""An in-process DUT spoke (DUT-NHC) for the self-tests: a FakeSpoke under test, with faults.

The tester plays the spoke's NHS and its peer spokes over a MemoryLink; everything the spoke sends
(registrations, resolutions, replies, data) lands in the tester's inbox, as the lab's raw socket
sees everything sent to tester addresses. Timers are short (holding time 3 s, first retry after
0.2 s) so that retransmission, refresh and expiry cases run in about a second.
"""

from __future__ import annotations

import time

from dmvpn.peers import Link, MemoryLink, ReqIds, Tunnel
from dmvpn.peers.spoke import SPOKE_FAULTS, FakeSpoke

from . import Dut, DutInfo, address_pool
from .capability import Capability

__all__ = ["SPOKE_FAULTS", "InProcessSpokeDut"]

NHS_NBMA, NHS_PROTO = "192.0.2.100", "10.255.0.100"


class InProcessSpokeDut(Dut):
    """A fake spoke inside the test process whose NHS is the tester, optionally with faults."""

    def __init__(self, faults: set[str] | frozenset[str] = frozenset(), name: str = "in-process fake spoke") -> None:
        holding_time = 3
        info = DutInfo(
            name=name + (f" with faults {sorted(faults)}" if faults else ""),
            implementation="in-process-spoke",
            role="spoke",
            nbma="192.0.2.13",
            proto="10.255.0.13",
            holding_time=holding_time,
            tester_nbma=address_pool("192.0.2.128/25"),
            tester_proto=address_pool("10.255.0.128/25"),
            nat_nbma=address_pool("198.51.100.0/24"),
            capabilities=frozenset({Capability.SHORTCUT, Capability.NAT, Capability.PURGE, Capability.CACHE,
                                   Capability.TRIGGER_REGISTRATION, Capability.SEND_DATA}),
            allowed_prefixes=("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"),
            reply_window=0.05,  # in-process answers are queued before send() returns
            quiet_window=0.05,
            extra={
                "nhs_nbma": NHS_NBMA,  # the tester plays the NHS at these addresses
                "nhs_proto": NHS_PROTO,
                "lan": "10.103.0.0/24",  # behind the DUT: what it answers Resolution Requests for
                "peer_lans": "10.200.0.0/16",  # routed via the NHS at the DUT: the emulated peers' LANs
                "retry_window": 0.6,  # long enough for a retransmission to come
                "shortcut_holding_time": 1,  # for the expiry case
                "renewal_holding_time": 1,  # for the renewal case
            },
        )
        super().__init__(info)
        self.faults = frozenset(faults)
        self.spoke = self._new_spoke()
        self.link: MemoryLink | None = None
        self.generation = 0
        self._log: list[str] = []

    def _new_spoke(self) -> FakeSpoke:
        info = self.info
        return FakeSpoke(
            info.nbma, info.proto, NHS_NBMA, NHS_PROTO, tunnel=Tunnel(info.gre_key, info.holding_time, 1400),
            reqids=ReqIds(1), lan=info.extra["lan"], retry_timeout=0.2, faults=self.faults,
        )

    def open_link(self) -> Link:
        self.link = MemoryLink(self.spoke)
        return self.link

    def _emit(self, packets: list[bytes]) -> None:
        """What the spoke sends on its own initiative goes to the tester like everything else."""
        if self.link is None:
            raise RuntimeError("open_link() first")
        self.link.inbox.extend(packets)

    def trigger_registration(self) -> None:
        self._emit(self.spoke.reregister(time.monotonic()))

    def send_data(self, dst: str, count: int = 3) -> None:
        self._emit(self.spoke.send_data(dst, count, time.monotonic()))

    def cache(self) -> list[dict]:
        now = time.monotonic()
        rows = [{"proto": p, "nbma": n, "type": "cached"} for p, (n, expires) in self.spoke.cache.items() if expires > now]
        for sc in self.spoke.shortcuts.values():
            if sc.expires > now or "ignore-holding-time" in self.spoke.faults:
                rows.append({"proto": sc.proto, "nbma": sc.nbma, "type": "dynamic"})
        return rows

    def shortcuts(self) -> list[dict]:
        now = time.monotonic()
        return [
            {"prefix": str(sc.network), "type": "dynamic", "via": sc.proto, "nbma": sc.nbma}
            for sc in self.spoke.shortcuts.values()
            if sc.expires > now or "ignore-holding-time" in self.spoke.faults
        ]

    def health(self) -> tuple[bool, str]:
        if self.spoke.crashed:
            return False, "the in-process spoke has crashed"
        return True, "in-process"

    def log(self) -> str:
        return "".join(self._log)

    def health_state(self):
        alive, why = self.health()
        if not alive and not self._log:
            self._log.append("NHRP: Received signal 11 at 0 (si_addr 0x0, PC 0x0); aborting...\n"
                             "NHRP: /usr/lib/dmvpn/fake-spoke(receive+0x10) [0x1000]\n")
        return super().health_state()

    def reset_state(self) -> str:
        self.spoke.cache.clear()
        self.spoke.shortcuts.clear()
        return "cleared the spoke's cache and shortcuts"

    def recover(self, force: bool = False) -> str:
        if not (force or self.spoke.crashed):
            return ""
        self.spoke = self._new_spoke()
        self._log.clear()
        self.generation += 1
        return "restarted the in-process spoke"
