"""The DUT as suites see it: addresses, role, tunnel parameters, capabilities, state and health.

Implemented by the embedded lab (`dmvpn.dut.lab`), by testbed files for external gear
(`dmvpn.dut.testbed`) and, for the project's self-tests, by in-process fakes with faults
(`InProcessDut`, `inprocess.InProcessSpokeDut`, `inprocess_esp.InProcessEspDut`).
No suite knows which one it talks to.

To add a DUT implementation: subclass `Dut`, build its `DutInfo` (addresses, tester pools, and
`capabilities` from `dmvpn.dut.capability.Capability`: cases that require one it lacks are not
applicable), and provide `open_link()`, `health_state()`, and where it can: `cache()`,
`answers_probe()`, `recover()`, `reset_state()`, `log()`; then offer it in `select.py`.
For its behaviour profile see suites/README.md; benchmarks and report sections: profiles/README.md.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dmvpn.peers import FakeNHS, Link, MemoryLink, Tunnel
from dmvpn.wire import constants as C

from .capability import Capability
from .crash import frr_crash_signature


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
    capabilities: frozenset[Capability] = frozenset()  # what it can do beyond plain NHRP
    allowed_prefixes: tuple[str, ...] = ()  # the interlock's allow-list
    reply_window: float = 2.0  # how long an answer that should come may take
    quiet_window: float = 1.5  # how long silence must last to count as a discard
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HealthState:
    """What the DUT adapter can tell about the DUT right now, cheaply."""

    alive: bool
    why: str = ""
    #: identities of the DUT's processes (pids): a change between two looks is a restart
    ids: tuple = ()


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
        # Request IDs start at a random point per run: no run's IDs are another's (external gear
        # keeps state across runs), and never 0.
        self._reqid = itertools.count(0x10000 * (1 + secrets.randbelow(0x8000)), 0x10000)
        self._probe: tuple[str, str] | None = None
        #: every request ID the run sent to this DUT: a reply carrying one of another case is stale
        self.sent_reqids: set[int] = set()

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

    def health_state(self) -> HealthState:
        """Alive or not, and the process identities (a DUT without management: from `health`)."""
        alive, why = self.health()
        return HealthState(alive, why)

    def answers_probe(self, link: Link, window: float | None = None, attempts: int = 3) -> bool | None:
        """Whether the DUT answers a valid request now (None: this DUT has no probe, e.g. a spoke).

        A hub is asked for a registration from one tester identity kept for probing, up to
        `attempts` times (a spoke retransmits too: one lost answer is not a dead DUT)."""
        if self.info.role != "hub":
            return None
        from dmvpn.wire import templates as T
        from dmvpn.wire.fastparse import ParseError, parse_ipv4_gre

        if self._probe is None:
            self._probe = self.allocate_identity()
        nbma, proto = self._probe
        info = self.info
        window = info.reply_window if window is None else window
        for _ in range(attempts):
            reqid = self.reqid_base()
            self.sent_reqids.add(reqid)
            link.send(T.registration_request(
                outer_src=nbma, outer_dst=info.nbma, src_proto=proto, dst_proto=info.proto, gre_key=info.gre_key,
                reqid=reqid, hopcnt=1, mtu=1400, holding_time=info.holding_time, password=info.password,
                nhs_nbma=info.nbma, nhs_proto=info.proto).packet)
            deadline = time.monotonic() + window
            while (left := deadline - time.monotonic()) > 0:
                raw = link.recv(left)
                if raw is None:
                    break
                try:
                    view = parse_ipv4_gre(raw).nhrp
                except ParseError:
                    continue
                if view is not None and view.op_type == C.PacketType.REGISTRATION_REPLY and view.reqid == reqid:
                    return True
        return False

    def log(self) -> str:
        return ""

    def log_mark(self) -> int:
        """A position in the DUT's log: `log_since(mark)` is what was written after it."""
        return len(self.log())

    def log_since(self, mark: int) -> str:
        return self.log()[mark:]

    def crash_signature(self, log: str) -> str | None:
        """The signal and top backtrace frames of a crash logged in `log`, or None."""
        return frr_crash_signature(log)

    def reset_state(self) -> str:
        """Give the next case a DUT state no earlier case shaped (e.g. clear the NHRP cache), as far
        as the management plane allows. Returns what was done ("" for nothing); raises on failure."""
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

    def recover(self, force: bool = False) -> str:
        """Bring a DUT that went down back (lab: a fresh boot); with `force`, also one that looks
        alive (it stopped answering, or a case wants a freshly booted DUT).

        Returns what was done ("" when nothing was needed or possible); raises when it cannot.
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

    @staticmethod
    @functools.cache
    def _pools() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """(tester NBMA, tester tunnel addresses, NAT NBMA), built once per process: the /16 alone
        took a third of a second to build, and the self-tests make hundreds of these DUTs (the
        tuples are immutable; each DUT keeps its own place in them, see `Dut.__init__`)."""
        return (
            address_pool("192.0.2.128/25"),
            address_pool("10.255.0.0/24", skip={"10.255.0.1"}) + address_pool("10.254.0.0/16"),
            address_pool("203.0.113.0/24"),
        )

    def __init__(self, faults: set[str] | frozenset[str] = frozenset(), name: str = "in-process fake NHS") -> None:
        tester_nbma, tester_proto, nat_nbma = self._pools()
        info = DutInfo(
            name=name + (f" with faults {sorted(faults)}" if faults else ""),
            implementation="in-process",
            role="hub",
            nbma="192.0.2.1",
            proto="10.255.0.1",
            tester_nbma=tester_nbma,
            tester_proto=tester_proto,
            nat_nbma=nat_nbma,
            capabilities=frozenset({Capability.PURGE, Capability.REDIRECT, Capability.NAT, Capability.ERROR_INDICATION}),
            allowed_prefixes=("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"),
            reply_window=0.05,  # in-process answers are queued before send() returns
            quiet_window=0.05,
        )
        super().__init__(info)
        #: seconds `advance_clock` moved the NHS's clock on (see `clock`)
        self.skipped = 0.0
        self.nhs = self._clocked(FakeNHS(info.nbma, info.proto, tunnel=Tunnel(info.gre_key, info.holding_time), faults=faults))
        self.generation = 0
        self._log: list[str] = []
        self._crash_logged: FakeNHS | None = None  # the NHS whose crash the log already holds
        #: self-tests: make the management plane fail (cache reads raise)
        self.management_broken = False

    def clock(self) -> float:
        """The NHS's time: real time plus what `advance_clock` skipped. The NHS has no timers; time
        passing changes nothing but its bindings' age, so a case's wait for a holding time to run out
        need not be slept out here: it moves this clock on (`MemoryLink.let_time_pass`)."""
        return time.monotonic() + self.skipped

    def advance_clock(self, seconds: float) -> None:
        self.skipped += max(0.0, seconds)

    def _clocked(self, nhs: FakeNHS) -> FakeNHS:
        nhs.cache.clock = nhs.non_authoritative.clock = self.clock
        return nhs

    def open_link(self) -> Link:
        return MemoryLink(self.nhs, clock=self.clock, skip=self.advance_clock)

    def cache(self) -> list[dict]:
        if self.management_broken:
            raise ConnectionError("the in-process NHS's management plane is broken")
        return [{"proto": b.proto, "nbma": b.nbma, "claimed_nbma": b.claimed_nbma} for b in self.nhs.cache.values()]

    def crash(self) -> None:
        """Self-tests: the NHS dies now (as a daemon killed by a signal)."""
        self.nhs.crashed = True

    def health(self) -> tuple[bool, str]:
        if self.nhs.crashed:
            if self._crash_logged is not self.nhs:
                self._crash_logged = self.nhs  # once per crash of this NHS
                # what an FRR daemon's crash handler writes; the same parser reads it
                self._log.append("NHRP: Received signal 11 at 0 (si_addr 0x0, PC 0x0); aborting...\n"
                                 "NHRP: /usr/lib/dmvpn/fake-nhs(receive+0x10) [0x1000]\n")
            return False, "the in-process NHS has crashed"
        return True, "in-process"

    def answers_probe(self, link: Link, window: float | None = None, attempts: int = 3) -> bool | None:
        # Alive is answering here: a fault such as "silent" is about the requests under test, not
        # the process (which a real DUT's management plane would show running).
        return not self.nhs.crashed

    def log(self) -> str:
        return "".join(self._log)

    def reset_state(self) -> str:
        self.nhs.cache.clear()
        return "cleared the NHS's cache"

    def recover(self, force: bool = False) -> str:
        if not (force or self.nhs.crashed):
            return ""
        old = self.nhs
        self.nhs = self._clocked(FakeNHS(old.nbma, old.proto, tunnel=old.tunnel, faults=old.faults))
        for name in ("forward_to_clients", "routes", "hopcnt", "redirect", "proto6"):
            setattr(self.nhs, name, getattr(old, name))
        self.generation += 1
        return "restarted the in-process NHS"
