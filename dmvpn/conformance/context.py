"""What a case works with: the DUT, fresh tester identities, exchanges, and the verify vocabulary.

Cases never assert. They observe through `expect_*`, each of which records one `Observation`
(what the RFC expects, what was seen, in short fixed words) and returns what it found so the case
can go on. The words of `observed` are what expectations profiles record, so they are stable:
"Registration Reply codes [0]", "no reply within 2.0 s", "Error Indication code 1".

What a case needs before it can test anything (a spoke registered, the DUT's state readable) is a
precondition (`precondition`): when one fails the case could not test, whatever else it saw.

An expectation that failed is recorded once, and the case may go on; what depends on it records
nothing. No `if reply is None: return` guards:
  * `expect_reply` / `expect_error_indication` return the reply's view, or, when the expected reply
    did not come, `Missing`: a falsy stand-in whose every use (an attribute, an index, iteration,
    unpacking) ends the case quietly (`StepFailed`, caught where the case is called: `@case`).
    A check that reads the reply therefore cannot run on a reply that is not there, and one that
    does not read it (a cache check after a failed reply) still runs.
  * a later step that needs an earlier one to have succeeded without reading its result (a refresh
    after the first registration) says so: `expect_reply(..., required=True)` ends the case when
    the expectation fails, after recording it.
  * `stop()` ends the case the same way; the suites' set-up helpers (`new_spoke`, `shared_spokes`,
    `register_address`, `reachable_via_hub`, `Rig.register`, `Rig.shortcut_to`, ...) use it after
    recording a failed precondition, so the cases that call them need no check.

Packets to the DUT are built by one helper, `packet(op_type, sender, ...)`: outer and NHRP
addresses, GRE key, hop count, the CIE's holding time and MTU, the NHS in the NAT extension of a
registration, and the DUT's password (Cisco authentication extension) come from the DUT's info;
keyword overrides change what a case breaks on purpose. `extensions(...)` is the extension list
it uses (with the password), for cases that add or replace extensions.

Cases are isolated: the run policy drains the link before each case, and an exchange accepts a
reply (Resolution, Registration or Purge Reply) only when it answers one of its own requests (by
request ID): a late duplicate, a probe's answer or another case's reply is never taken for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from dmvpn.peers import Exchange, FakeSpoke, Link, ReqIds, Tunnel, send_and_collect
from dmvpn.wire import constants as C
from dmvpn.wire import templates as T
from dmvpn.wire.fastparse import GrePacket, NhrpView

from .case import CaseInfo, StepFailed

if TYPE_CHECKING:
    from dmvpn.dut import Dut

T_ = TypeVar("T_")

#: `extensions(password=...)` default: the DUT's own password
DUT_PASSWORD = object()

TYPE_NAMES = {
    1: "Resolution Request",
    2: "Resolution Reply",
    3: "Registration Request",
    4: "Registration Reply",
    5: "Purge Request",
    6: "Purge Reply",
    7: "Error Indication",
    8: "Traffic Indication",
}


class _Missing:
    """What a failed expectation returns instead of the reply: falsy, and any use ends the case."""

    __slots__ = ("what",)

    def __init__(self, what: str = "an expected reply") -> None:
        object.__setattr__(self, "what", what)

    def __bool__(self) -> bool:
        return False

    def __getattr__(self, name: str):
        raise StepFailed(f"{self.what} is missing")

    def _stop(self, *args, **kwargs):
        raise StepFailed(f"{self.what} is missing")

    __iter__ = __getitem__ = __len__ = __call__ = __setattr__ = _stop

    def __repr__(self) -> str:
        return f"Missing({self.what!r})"


#: the reply that did not come (see the module docstring)
Missing = _Missing()


def present(value) -> bool:
    """False for None and `Missing` (the case goes on without reading it), else True."""
    return value is not None and not isinstance(value, _Missing)


@dataclass
class Observation:
    what: str
    conforms: bool
    observed: str
    expected: str
    #: a condition the case needs before it can test (not a requirement on the DUT)
    precondition: bool = False


#: NHRP types that answer a request, matched to it by request ID
REPLY_TYPES = frozenset({C.PacketType.RESOLUTION_REPLY, C.PacketType.REGISTRATION_REPLY, C.PacketType.PURGE_REPLY})


def nhrp_request_id(raw: bytes, any_type: bool = False) -> tuple[int, int] | None:
    """(NHRP type, request ID) of an IPv4/GRE/NHRP packet of types 1-6 (of any type with
    `any_type`: what a DUT would read there), from the raw bytes (malformed packets too, as far as
    those bytes are there), or None."""
    if len(raw) < 20 or raw[0] >> 4 != 4:
        return None
    gre = (raw[0] & 0x0F) * 4
    if len(raw) < gre + 4 or raw[gre + 2 : gre + 4] != b"\x20\x01":
        return None
    flags = raw[gre]
    nhrp = gre + 4 + 4 * bool(flags & 0x80) + 4 * bool(flags & 0x20) + 4 * bool(flags & 0x10)
    if len(raw) < nhrp + 28:
        return None
    op_type = raw[nhrp + 17]
    if not (any_type or 1 <= op_type <= 6):
        return None
    return op_type, int.from_bytes(raw[nhrp + 24 : nhrp + 28], "big")


def describe(packet: GrePacket | None) -> str:
    """A reply in the fixed words profiles record."""
    if packet is None:
        return "nothing"
    view = packet.nhrp
    if view is None:
        return f"GRE protocol 0x{packet.gre_proto:04x}"
    name = TYPE_NAMES.get(view.op_type, f"type {view.op_type}")
    if view.op_type == C.PacketType.ERROR_INDICATION:
        return f"{name} code {view.code}"
    if view.op_type == C.PacketType.TRAFFIC_INDICATION:
        return f"{name} code {view.code}"
    return f"{name} codes {[c.code for c in view.cies]}"


def describe_unparsable(reply) -> str:
    """A malformed answer in fixed words: its NHRP type when readable, and that it is malformed."""
    kind = reply.nhrp_type
    name = TYPE_NAMES.get(kind, f"type {kind}") if kind is not None else "a non-NHRP packet"
    return f"malformed {name}"


@dataclass
class CaseContext:
    """One case's run against one DUT."""

    info: CaseInfo
    dut: "Dut"
    link: Link
    pcap: Path | None = None
    window: float = 2.0  # how long to wait for an answer that should come
    quiet: float = 1.5  # how long silence must last to count as silence
    observations: list[Observation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _identities: int = 0
    #: request IDs of the NHRP requests and replies this case sent: what a reply may answer
    sent_reqids: set[int] = field(default_factory=set)
    #: per-case state of the suites' helpers (e.g. the case's tester spokes)
    scratch: dict = field(default_factory=dict)

    # -- identities ----------------------------------------------------------------------------

    def identity(self) -> tuple[str, str]:
        """A fresh (NBMA, tunnel address) pair for an emulated spoke, unique within the run."""
        nbma, proto = self.dut.allocate_identity()
        self._identities += 1
        return nbma, proto

    def spoke(self, **kwargs) -> FakeSpoke:
        """A fake spoke with a fresh identity, registered with the DUT hub's addresses."""
        nbma, proto = kwargs.pop("identity", None) or self.identity()
        info = self.dut.info
        tunnel = Tunnel(info.gre_key, info.holding_time, 1400, info.password)
        return FakeSpoke(nbma, proto, info.nbma, info.proto, tunnel=tunnel, reqids=ReqIds(self.dut.reqid_base()), **kwargs)

    # -- packets to the DUT --------------------------------------------------------------------

    def extensions(self, *extra: T.Extension, responder: Iterable[T.Cie] = (), forward: Iterable[T.Cie] = (),
                   reverse: Iterable[T.Cie] = (), transit: bool = True, password=DUT_PASSWORD) -> list[T.Extension]:
        """Responder Address (these CIEs), Forward and Reverse Transit (unless `transit=False`),
        the DUT's password as the Cisco authentication extension (when it has one), `extra`, End."""
        password = self.dut.info.password if password is DUT_PASSWORD else password
        exts = [T.responder_address(list(responder))]
        if transit:
            exts += [T.forward_transit(list(forward)), T.reverse_transit(list(reverse))]
        if password is not None:
            exts.append(T.cisco_auth(password))
        return exts + list(extra) + [T.end()]

    def packet(self, op_type: int, sender, reqid: int = 0, **fields) -> bytes:
        """An NHRP packet of `op_type` from `sender` to the DUT, its addressing from the DUT's info.

        `sender`: an (NBMA, protocol address) pair or anything with `.nbma` and `.proto` (and
        `.src_nbma`: the NBMA address it claims, behind a NAT). Defaults: outer source the sender's
        NBMA, outer destination and destination protocol address the DUT's, the DUT's GRE key,
        source NBMA and protocol address the sender's, hop count 1, one CIE (prefix, MTU 1400, the
        DUT's holding time; code 0), `extensions()` (with the DUT's password), and per type:

        * Registration Request (3): flags U|NAT, prefix 32, the NAT extension naming the NHS (the
          DUT) (`nhs=False` leaves it out): Cisco's shape, what REG-01 sends;
        * Resolution Request (1): flags Q|A|S|NAT, prefix 0, hop count 16;
        * Purge Request / Reply (5, 6): hop count 16, CIE prefix 32, holding time 0, no MTU, for
          `purged` (default: the sender's protocol address);
        * replies (2, 4) the tester sends as a target or NHS: the CIE as for a request;
        * Error Indication (7, `error_code`, `error_offset`, `payload`) and Traffic Indication (8):
          no CIE, and only the DUT's password and End (none without a password: §5.2.7 adds no
          extension to an Error Indication, but a DUT that checks passwords checks them on every
          packet, FRR 10.3 answering a bare one with Error Indication 11).

        Overrides: any `NhrpTemplate.compile` field (outer_src, dst_proto, flags, hopcnt, cies,
        extensions, ...), and `holding_time`, `mtu`, `prefix_len`, `code` for the default CIE.
        `password`: the DUT's by default, None for none; it is added to explicit `extensions`
        too, before their End, unless they carry an authentication extension already."""
        info = self.dut.info
        if isinstance(sender, tuple):
            nbma, proto = sender
            claimed = nbma
        else:
            nbma, proto, claimed = sender.nbma, sender.proto, getattr(sender, "src_nbma", sender.nbma)
        kind = C.PacketType
        password = fields.pop("password", info.password)
        holding_time = fields.pop("holding_time", None)
        mtu = fields.pop("mtu", 1400)
        code = fields.pop("code", 0)
        nhs = fields.pop("nhs", True)
        purged = fields.pop("purged", proto)
        args: dict = dict(
            outer_src=nbma, outer_dst=info.nbma, gre_key=info.gre_key, hopcnt=1, src_nbma=claimed, src_proto=proto,
            dst_proto=info.proto, reqid=reqid,
        )
        prefix_len = 0
        extra: list[T.Extension] = []
        if op_type == kind.REGISTRATION_REQUEST:
            args["flags"] = C.RegistrationFlags.U | C.RegistrationFlags.NAT
            prefix_len = 32
            if nhs:
                extra = [T.nat_address([T.Cie(prefix_len=32, mtu=mtu, holding_time=0, client_nbma=info.nbma, client_proto=info.proto)])]
        elif op_type == kind.RESOLUTION_REQUEST:
            args.update(flags=C.ResolutionFlags.Q | C.ResolutionFlags.A | C.ResolutionFlags.S | C.ResolutionFlags.NAT, hopcnt=16)
        elif op_type in (kind.PURGE_REQUEST, kind.PURGE_REPLY):
            args["hopcnt"] = 16
            prefix_len = 32
        prefix_len = fields.pop("prefix_len", prefix_len)
        if op_type in (kind.PURGE_REQUEST, kind.PURGE_REPLY):
            args["cies"] = [T.Cie(code=code, prefix_len=prefix_len, holding_time=holding_time or 0, client_proto=purged)]
        elif op_type in (kind.ERROR_INDICATION, kind.TRAFFIC_INDICATION):
            args["cies"] = []
        else:
            held = info.holding_time if holding_time is None else holding_time
            args["cies"] = [T.Cie(code=code, prefix_len=prefix_len, mtu=mtu, holding_time=held)]
        if op_type in (kind.ERROR_INDICATION, kind.TRAFFIC_INDICATION):
            args["extensions"] = [] if password is None else [T.cisco_auth(password), T.end()]
        else:
            args["extensions"] = self.extensions(*extra, password=password)
        if "extensions" in fields and password is not None:
            fields["extensions"] = with_password(fields["extensions"], password)
        args.update(fields)
        return T.NhrpTemplate.compile(op_type, **args).packet

    # -- exchanges -----------------------------------------------------------------------------

    def from_dut(self, parsed: GrePacket | None, raw: bytes) -> bool:
        """Sent by the DUT (judged from the raw outer header: malformed answers count too)."""
        return len(raw) >= 20 and raw[12:16] == self._dut_nbma

    @property
    def _dut_nbma(self) -> bytes:
        return bytes(int(x) for x in self.dut.info.nbma.split("."))

    def exchange(
        self,
        packets: bytes | Iterable[bytes],
        window: float | None = None,
        accept: Callable[[GrePacket | None, bytes], bool] | None = None,
        stop_after: int | None = None,
    ) -> Exchange:
        """Send these exact bytes; collect what the DUT sends back within the window.

        A reply (Resolution, Registration, Purge Reply) is accepted only when it answers a request
        of this exchange (of this case, when the exchange sends no NHRP): see `answers`. What else
        arrived since the last exchange (a Traffic Indication, forwarded data) is this case's and
        stays on the link; what earlier cases left was drained before the case began."""
        packets = [bytes(packets)] if isinstance(packets, (bytes, bytearray)) else [bytes(p) for p in packets]
        scope: set[int] = set()
        for packet in packets:
            found = nhrp_request_id(packet, any_type=True)
            if found is not None:
                scope.add(found[1])
        self.sent_reqids |= scope
        self.dut.sent_reqids |= scope
        base = accept or self.from_dut

        def accepted(parsed: GrePacket | None, raw: bytes) -> bool:
            return base(parsed, raw) and self.answers(raw, scope or None)

        return send_and_collect(self.link, packets, self.window if window is None else window, accepted, stop_after)

    def answers(self, raw: bytes, requests: set[int] | None = None) -> bool:
        """False for a reply to another request than these (default: than this case's): a stale
        answer, a late duplicate, or one to another case or to a health probe.

        A reply counts when its request ID is of the same peer as one of `requests` (the upper 16
        bits: an answer with a mangled low part is still seen, as the wrong answer it is), or is one
        nobody in this run sent."""
        found = nhrp_request_id(raw)
        if found is None or found[0] not in REPLY_TYPES:
            return True
        reqid = found[1]
        own = self.sent_reqids if requests is None else requests
        return (reqid >> 16) in {r >> 16 for r in own} or reqid not in self.dut.sent_reqids

    def drain(self, limit: int = 10000) -> int:
        """Throw away what is waiting on the link (bounded: a link that never runs dry is a bug)."""
        for n in range(limit):
            if self.link.recv(0) is None:
                return n
        return limit

    def ask(self, packet: bytes, window: float | None = None) -> Exchange:
        """Send one request and wait for the first NHRP answer from the DUT (or the window)."""
        return self.exchange(packet, window, stop_after=1)

    # -- the verify vocabulary -----------------------------------------------------------------

    def observe(self, what: str, conforms: bool, observed: str, expected: str) -> Observation:
        observation = Observation(what, conforms, observed, expected)
        self.observations.append(observation)
        return observation

    def precondition(self, what: str, met: bool, observed: str, expected: str) -> bool:
        """Record a condition the case needs before it can test; when unmet the case is inconclusive."""
        self.observations.append(Observation(what, bool(met), observed, expected, precondition=True))
        return bool(met)

    @property
    def preconditions_met(self) -> bool:
        return all(o.conforms for o in self.observations if o.precondition)

    def expect(self, what: str, condition: bool, observed: str, expected: str) -> bool:
        self.observe(what, bool(condition), observed, expected)
        return bool(condition)

    def expect_reply(
        self,
        exchange: Exchange,
        op_type: int,
        reqid: int | None = None,
        codes: list[int] | None = None,
        to: str | None = None,
        required: bool = False,
    ) -> NhrpView:
        """Exactly the reply the RFC asks for: its type, request ID, CIE codes, destination.

        The reply's view when one of `op_type` came (whether or not it was right in every
        respect), else `Missing`; `required`: when there is no such reply, end the case (recorded)."""
        want = TYPE_NAMES[op_type] + (f" codes {[int(c) for c in codes]}" if codes is not None else "")
        answers = exchange.nhrp()
        if not answers:
            broken = exchange.unparsable()
            observed = describe_unparsable(broken[0]) if broken else "no reply"
            self.observe(f"{TYPE_NAMES[op_type]}", False, observed, want)
            return self.stop() if required else Missing
        first = answers[0]
        view = first.nhrp
        problems = []
        if view.op_type != op_type:
            problems.append(describe(first))
        else:
            if not view.checksum_ok:
                problems.append(f"{TYPE_NAMES[op_type]} with a bad checksum")
            if reqid is not None and view.reqid != reqid:
                problems.append(f"{TYPE_NAMES[op_type]} request ID {view.reqid} for {reqid}")
            if codes is not None and [c.code for c in view.cies] != codes:
                problems.append(describe(first))
            if to is not None and first.outer_dst != to:
                problems.append(f"{TYPE_NAMES[op_type]} sent to {first.outer_dst}")
        observed = "; ".join(problems) if problems else describe(first)
        self.observe(TYPE_NAMES[op_type], not problems, observed, want + (f" to {to}" if to else ""))
        if view.op_type == op_type:
            return view
        return self.stop() if required else Missing

    def stop(self):
        """End the case here: what failed is recorded, nothing that depends on it runs."""
        raise StepFailed(self.info.case_id)

    def expect_error_indication(self, exchange: Exchange, code: int) -> NhrpView:
        """An Error Indication with this code (RFC 2332 §5.2.7), and no success reply."""
        answers = exchange.nhrp()
        want = f"Error Indication code {code}"
        if not answers:
            broken = exchange.unparsable()
            self.observe("Error Indication", False, describe_unparsable(broken[0]) if broken else "no reply", want)
            return Missing
        first = answers[0]
        view = first.nhrp
        ok = view.op_type == C.PacketType.ERROR_INDICATION and view.code == code and view.checksum_ok
        self.observe("Error Indication", ok, describe(first), want)
        return view if view.op_type == C.PacketType.ERROR_INDICATION else Missing

    def expect_silence(self, exchange: Exchange, allowed_errors: Iterable[int] = ()) -> bool:
        """No answer (a silent discard), or an Error Indication with one of `allowed_errors`."""
        allowed = set(allowed_errors)
        answers = exchange.nhrp()
        want = "silent discard" + (f" or Error Indication code {sorted(int(c) for c in allowed)}" if allowed else "")
        bad = [p for p in answers if not (p.nhrp.op_type == C.PacketType.ERROR_INDICATION and p.nhrp.code in allowed)]
        broken = exchange.unparsable()
        if bad:
            observed = describe(bad[0])
        elif broken:
            observed = describe_unparsable(broken[0])
        else:
            observed = "silent discard" if not answers else describe(answers[0])
        return self.expect("discard", not bad and not broken, observed, want)

    def cache(self) -> list[dict] | None:
        """The DUT's NHRP cache; None when this DUT has no management plane for it (the case checks
        what it can without), or when reading it failed (a failed precondition: could not test)."""
        try:
            return self.dut.cache()
        except Exception as exc:  # a crashed daemon, a management session that broke, ...
            self.precondition("the DUT's cache readable", False, "management plane unreadable", "the DUT's cache read")
            self.note(f"DUT state unavailable: {type(exc).__name__}: {str(exc)[:200]}")
            return None

    def expect_binding(self, proto: str, nbma: str | None = None, present: bool = True) -> dict | None:
        """The DUT's cache holds `proto` (bound to `nbma` when given), or not (present=False).

        Observed words are fixed ("cached", "cached with another NBMA", "not cached") so that
        profiles can record them. When the state cannot be read, nothing is observed (a note says so).
        """
        cache = self.cache()
        if cache is None:
            return None
        entry = next((e for e in cache if e.get("proto") == proto), None)
        if entry is None:
            observed = "not cached"
        elif nbma is not None and entry.get("nbma") != nbma:
            observed = "cached with another NBMA"
        else:
            observed = "cached"
        expected = "cached" if present else "not cached"
        self.observe("binding" if present else "no binding", observed == expected, observed, expected)
        return entry

    def note(self, text: str) -> None:
        self.notes.append(text)

    # -- helpers for multi-step cases ----------------------------------------------------------

    def wait(self, seconds: float) -> None:
        # A link to an in-process DUT (MemoryLink) lets the time pass for it, at once when it can.
        getattr(self.link, "let_time_pass", time.sleep)(seconds)

    def wait_until(
        self, probe: Callable[..., T_], done: Callable[[T_], bool], timeout: float, interval: float, *, time_left: bool = False,
    ) -> T_:
        """Call `probe` until `done(its answer)` or `timeout` seconds have passed; the last answer.

        The one bounded wait for DUT state: the probe runs at least once, and again every
        `interval` seconds while the deadline has not passed. With `time_left`, the probe is given
        the seconds left before the deadline (never negative): a probe that listens (for a packet
        from the DUT) listens no longer than that, and `interval` may be 0."""
        deadline = time.monotonic() + timeout
        while True:
            found = probe(max(0.0, deadline - time.monotonic())) if time_left else probe()
            if done(found) or time.monotonic() >= deadline:
                return found
            if interval:
                time.sleep(interval)


def with_password(extensions: Iterable[T.Extension], password: bytes) -> list[T.Extension]:
    """`extensions` with the Cisco authentication extension for `password` before the End (at the
    end when there is none), unless they carry an authentication extension already."""
    extensions = list(extensions)
    if any(e.type & 0x3FFF == C.ExtensionType.AUTHENTICATION for e in extensions):
        return extensions
    ends = [i for i, e in enumerate(extensions) if e.type & 0x3FFF == C.ExtensionType.END]
    at = ends[0] if ends else len(extensions)
    return extensions[:at] + [T.cisco_auth(password)] + extensions[at:]
