"""The DUT as suites see it: addresses, role, tunnel parameters, capabilities, state and health.

Implemented by the embedded lab (`dmvpn.dut.lab`), by testbed files for external gear
(`dmvpn.dut.testbed`) and, for the project's self-tests, by an in-process fake hub with faults.
No suite knows which one it talks to.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dmvpn.peers import FakeNHS, Link, MemoryLink, Tunnel


@dataclass(frozen=True)
class DutInfo:
    name: str  # for reports: "FRR 8.4.4 hub (embedded lab)"
    implementation: str  # expectations profile key: "frr-8.4", "cisco-ios-xe-17", ...
    role: str  # "hub" or "spoke"
    nbma: str
    proto: str
    gre_key: int | None = 42
    holding_time: int = 600
    password: bytes | None = None
    #: NBMA addresses the tester may send from (one per emulated spoke) and tunnel addresses to claim
    tester_nbma: tuple[str, ...] = ()
    tester_proto: tuple[str, ...] = ()
    #: addresses that stand for "a spoke's public, post-NAT address"
    nat_nbma: tuple[str, ...] = ()
    capabilities: frozenset[str] = frozenset()
    allowed_prefixes: tuple[str, ...] = ()  # the interlock's allow-list
    reply_window: float = 2.0  # how long an answer that should come may take
    quiet_window: float = 1.5  # how long silence must last to count as a discard
    extra: dict[str, Any] = field(default_factory=dict)


def address_pool(*networks: str, skip: set[str] = frozenset()) -> tuple[str, ...]:
    out = []
    for net in networks:
        for host in ipaddress.ip_network(net).hosts():
            if str(host) not in skip:
                out.append(str(host))
    return tuple(out)


class Dut:
    """Base class: identity allocation and request-ID spacing; subclasses bring the rest."""

    info: DutInfo

    def __init__(self, info: DutInfo) -> None:
        self.info = info
        self._nbma: Iterator[str] = itertools.cycle(info.tester_nbma)
        self._proto: Iterator[str] = iter(info.tester_proto)
        self._reqid = itertools.count(0x10000, 0x10000)

    def allocate_identity(self) -> tuple[str, str]:
        """A (NBMA, tunnel address) pair no earlier case of this run used as a tunnel address."""
        try:
            proto = next(self._proto)
        except StopIteration:
            raise RuntimeError("the DUT's tester tunnel-address pool is exhausted") from None
        return next(self._nbma), proto

    def reqid_base(self) -> int:
        """Request IDs for a new peer: spaced so that peers never collide."""
        return next(self._reqid) & 0xFFFFFFFF

    # -- to be provided ------------------------------------------------------------------------

    def open_link(self) -> Link:
        raise NotImplementedError

    def set_evidence(self, link: Link, recorder) -> None:
        """Point the link's capture at this case's pcap."""
        link.recorder = recorder  # type: ignore[attr-defined]

    def cache(self) -> list[dict] | None:
        """The DUT's NHRP cache as dicts with at least 'proto' and 'nbma', or None if unknown."""
        return None

    # -- a DUT spoke (DUT-NHC): optional hooks, announced by capabilities ---------------------

    def shortcuts(self) -> list[dict] | None:
        """A DUT spoke's shortcuts as dicts with 'prefix' ("10.200.1.0/24"), 'type' ("dynamic",
        "incomplete", ...), 'via' (the next hop's tunnel address) and 'nbma' ("" when unknown), or None."""
        return None

    def trigger_registration(self) -> None:
        """Capability "trigger-registration": make the DUT spoke send a fresh Registration Request
        now; what its earlier registration state had pending is dropped (lab: re-add its nhs)."""
        raise NotImplementedError("this DUT cannot be made to register")

    def send_data(self, dst: str, count: int = 3) -> None:
        """Capability "send-data": make the DUT spoke send `count` packets from its LAN address to
        `dst` as its own routing sends them (lab: ping from the guest); returns once they are sent."""
        raise NotImplementedError("this DUT cannot be made to send data")

    def health(self) -> tuple[bool, str]:
        return True, "no health check for this DUT"

    def log(self) -> str:
        return ""

    # -- ESP (DUTs with the "esp" capability) --------------------------------------------------

    def esp_tester(self, nat_t: bool = False) -> str:
        """The tester address that holds SAs with the DUT (the NAT-T one with nat_t)."""
        raise NotImplementedError("this DUT has no ESP SAs with the tester")

    def esp_link(self):
        """The run's one ESP link to the DUT (one per run: sequence numbers go on across cases)."""
        raise NotImplementedError("this DUT has no ESP SAs with the tester")

    def esp_counters(self) -> dict | None:
        """The DUT's ESP counters (integrity failures, replays, ...), or None when unreadable."""
        return None

    def recover(self) -> str:
        """Bring a DUT that stopped answering back (e.g. restart a crashed daemon).

        Returns what was done ("" when nothing was needed); raises when it cannot.
        """
        return ""

    def close(self) -> None:
        pass


class DutSet:
    """The DUTs of one run, by role ("hub", "spoke"); closing it closes what they share (a lab)."""

    def __init__(self, duts: dict[str, Dut], close: Callable[[], None] | None = None) -> None:
        if not duts:
            raise ValueError("a run needs at least one DUT")
        self.duts = duts
        self._close = close
        self._links: dict[tuple[str, int], Link] = {}

    def for_role(self, role: str) -> Dut | None:
        """The DUT playing `role`; for "any", the hub if there is one."""
        if role == "any":
            return self.duts.get("hub") or next(iter(self.duts.values()))
        return self.duts.get(role)

    def link(self, dut: Dut) -> Link:
        """One link per DUT for the run (a new one when the DUT was rebooted since: see generation)."""
        key = (dut.info.role, getattr(dut, "generation", 0))
        if key not in self._links:
            for old_key in [k for k in self._links if k[0] == dut.info.role]:
                close = getattr(self._links.pop(old_key), "close", None)
                if close:
                    close()
            self._links[key] = dut.open_link()
        return self._links[key]

    @property
    def primary(self) -> Dut:
        return self.for_role("any")

    def close(self) -> None:
        try:
            for link in self._links.values():
                close = getattr(link, "close", None)
                if close:
                    close()
            for dut in self.duts.values():
                dut.close()
        finally:
            if self._close is not None:
                self._close()


class InProcessDut(Dut):
    """A fake hub inside the test process, optionally with faults: the self-tests' DUT."""

    def __init__(self, faults: set[str] | frozenset[str] = frozenset(), name: str = "in-process fake NHS") -> None:
        info = DutInfo(
            name=name + (f" with faults {sorted(faults)}" if faults else ""),
            implementation="in-process",
            role="hub",
            nbma="192.0.2.1",
            proto="10.255.0.1",
            tester_nbma=address_pool("192.0.2.128/25"),
            tester_proto=address_pool("10.255.0.0/24", skip={"10.255.0.1"}) + address_pool("10.254.0.0/16"),
            nat_nbma=address_pool("203.0.113.0/24"),
            capabilities=frozenset({"purge", "redirect", "nat", "error-indication"}),
            allowed_prefixes=("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"),
            reply_window=0.05,  # in-process answers are queued before send() returns
            quiet_window=0.05,
        )
        super().__init__(info)
        self.nhs = FakeNHS(info.nbma, info.proto, tunnel=Tunnel(info.gre_key, info.holding_time), faults=faults)

    def open_link(self) -> Link:
        return MemoryLink(self.nhs)

    def cache(self) -> list[dict]:
        return [{"proto": b.proto, "nbma": b.nbma, "claimed_nbma": b.claimed_nbma} for b in self.nhs.cache.values()]

    def health(self) -> tuple[bool, str]:
        if "silent" in self.nhs.faults:
            return False, "the in-process NHS is configured silent"
        return True, "in-process"
