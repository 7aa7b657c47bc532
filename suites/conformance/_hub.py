"""Support for the DUT-as-hub case groups: tester spokes, packet builders, GRE crafting, state probes.

Private (not collected). Everything here builds on `CaseContext` and the wire templates; nothing
knows whether the DUT is the lab, a testbed or the in-process hub. Observed words stay free of
addresses and request IDs, so expectations profiles can match them by equality.

Each case has its own tester spokes (fresh identities: no case meets another's bindings); the
requester ("asker", unique) and the resolved or data-receiving spoke ("peer", non-unique) are
registered once per case.
"""

from __future__ import annotations

import itertools
import socket
import struct
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dmvpn.conformance import CaseContext
from dmvpn.conformance.context import describe
from dmvpn.peers import Exchange
from dmvpn.peers.nhs import ipv6_proto
from dmvpn.wire import constants as C
from dmvpn.wire import ip as IP
from dmvpn.wire import templates as T
from dmvpn.wire.checksum import inet_checksum
from dmvpn.wire.fastparse import GrePacket, NhrpView, ParseError, parse_ipv4_gre
from dmvpn.wire.ip import ipv4

REG_REQ = C.PacketType.REGISTRATION_REQUEST
REG_REPLY = C.PacketType.REGISTRATION_REPLY
RES_REQUEST = C.PacketType.RESOLUTION_REQUEST
RES_REPLY = C.PacketType.RESOLUTION_REPLY
ERROR = C.PacketType.ERROR_INDICATION
TRAFFIC = C.PacketType.TRAFFIC_INDICATION
#: what DMVPN spokes put in a Resolution Request (FRR, Cisco): Q|A|S|NAT
RES_FLAGS = C.ResolutionFlags.Q | C.ResolutionFlags.A | C.ResolutionFlags.S | C.ResolutionFlags.NAT
NAT = C.RegistrationFlags.NAT
UNIQUE = C.RegistrationFlags.U | C.RegistrationFlags.NAT


@dataclass
class Spoke:
    """A tester spoke: the NBMA address it sends from and its tunnel (protocol) address."""

    nbma: str
    proto: str
    claimed: str | None = None  # the NBMA address it claims when it sits behind a NAT

    @property
    def src_nbma(self) -> str:
        return self.claimed or self.nbma


# -- per-DUT state (a run's DUT; weak keys: in-process DUTs come and go in the self-tests) ------

_STATE: "weakref.WeakKeyDictionary[object, dict]" = weakref.WeakKeyDictionary()


def _state(ctx: CaseContext) -> dict:
    state = _STATE.get(ctx.dut)
    if state is None:
        state = _STATE[ctx.dut] = {"lans": itertools.count(200), "public": itertools.count(48)}
    return state


def fresh_lan_host(ctx: CaseContext) -> str:
    """A host address in a /24 no earlier case of this run used (10.200.0.1, 10.201.0.1, ...).

    Redirects are rate-limited per (source /24, destination /24) pair: each case that needs one
    takes its own source network.
    """
    n = next(_state(ctx)["lans"])
    if n > 254:
        raise RuntimeError("out of fresh /24 networks for this run")
    return f"10.{n}.0.1"


def public_nbma(ctx: CaseContext) -> str:
    """A "public" (post-NAT) NBMA address of the DUT's NAT pool no earlier case of the run used."""
    pool = ctx.dut.info.nat_nbma
    n = next(_state(ctx)["public"])
    if not pool:
        raise RuntimeError("the DUT declares no NAT addresses")
    return pool[n % len(pool)]


def v6(proto: str) -> str:
    """A tester spoke's IPv6 protocol address in IPv6-over-IPv4 cases (2001:db8:ffff::/96 + its IPv4 address)."""
    return ipv6_proto(proto)


# -- accepting what the DUT sends -----------------------------------------------------------------


def to(ctx: CaseContext, *nbmas: str) -> Callable[[GrePacket | None, bytes], bool]:
    """Accept packets from the DUT addressed to one of `nbmas` (malformed ones too)."""
    wanted = {socket.inet_aton(n) for n in nbmas}

    def accept(parsed: GrePacket | None, raw: bytes) -> bool:
        return ctx.from_dut(parsed, raw) and raw[16:20] in wanted

    return accept


def about(packet: GrePacket, reqid: int) -> bool:
    """An Error Indication whose enclosed packet is the request with this request ID."""
    payload = packet.nhrp.payload
    return len(payload) >= 28 and struct.unpack_from("!I", payload, 24)[0] == reqid


# -- building -------------------------------------------------------------------------------------


def register(ctx: CaseContext, spoke: Spoke, unique: bool = True, window: float | None = None, **kwargs) -> tuple[int, Exchange]:
    reqid = ctx.dut.reqid_base()
    addresses = [spoke.nbma] + ([spoke.claimed] if spoke.claimed else [])
    kwargs.setdefault("flags", UNIQUE if unique else NAT)
    exchange = ctx.exchange(ctx.packet(REG_REQ, spoke, reqid, **kwargs), window, accept=to(ctx, *addresses), stop_after=1)
    return reqid, exchange


def acked(exchange: Exchange, reqid: int) -> bool:
    """A Registration Reply with this request ID and only success codes came back.

    For setting up a case: the reply's checksum is other cases' concern (REG-01, HDR-01).
    """
    return any(
        p.nhrp.op_type == REG_REPLY and p.nhrp.reqid == reqid and p.nhrp.cies and all(c.code == 0 for c in p.nhrp.cies)
        for p in exchange.nhrp()
    )


def _setup_failure(ctx: CaseContext, what: str, exchange: Exchange, reqid: int) -> None:
    answers = exchange.nhrp()
    if not answers:
        observed = "no reply"
    elif answers[0].nhrp.op_type == REG_REPLY and answers[0].nhrp.reqid != reqid:
        observed = "a Registration Reply with another request ID"
    else:
        observed = describe(answers[0])
    ctx.precondition(f"{what} registered", False, f"{what}: {observed}", f"{what}: Registration Reply codes [0]")


def setup_registration(ctx: CaseContext, spoke: Spoke, what: str, unique: bool = True, record: bool = True, **kwargs) -> bool:
    """Register `spoke`; only a failure is recorded (a failed precondition: the case could not test)."""
    reqid, exchange = register(ctx, spoke, unique, **kwargs)
    if acked(exchange, reqid):
        return True
    if record:
        _setup_failure(ctx, what, exchange, reqid)
    return False


def new_spoke(ctx: CaseContext, what: str = "spoke", unique: bool = True, **kwargs) -> Spoke:
    """A fresh identity, registered (when it cannot be, the failed precondition is recorded and the case ends)."""
    spoke = Spoke(*ctx.identity())
    if not setup_registration(ctx, spoke, what, unique, **kwargs):
        ctx.stop()
    return spoke


def shared_spokes(ctx: CaseContext, record: bool = True) -> tuple[Spoke, Spoke] | None:
    """The case's asker (registered unique) and peer (registered non-unique), registered with the DUT.

    Fresh identities for every case (isolation: no case meets another's bindings), registered once
    per case however often the case asks. When they cannot be registered, the failed precondition
    is recorded and the case ends; with `record=False` (a probe, not a step of the case) nothing is
    recorded and the answer is None.
    """
    state = ctx.scratch.get("shared spokes")
    if state is None:
        state = ctx.scratch["shared spokes"] = {"asker": Spoke(*ctx.identity()), "peer": Spoke(*ctx.identity()), "registered": False}
    asker, peer = state["asker"], state["peer"]
    if state["registered"]:
        return asker, peer
    if not (setup_registration(ctx, asker, "the requesting spoke", unique=True, record=record)
            and setup_registration(ctx, peer, "the target spoke", unique=False, record=record)):
        if record:
            ctx.stop()
        return None
    state["registered"] = True
    return asker, peer


def register_address(ctx: CaseContext, spoke: Spoke, address: str, what: str = "an extra address") -> None:
    """Register one more protocol address (a host on the spoke's LAN) at the spoke's NBMA address.

    A non-unique registration whose one CIE carries the client addresses (RFC 2332 §5.2.3): the hub
    then knows `address` lies behind `spoke`. When it is not acknowledged, the failed precondition
    is recorded and the case ends.
    """
    reqid = ctx.dut.reqid_base()
    six = ":" in address
    cie = T.Cie(prefix_len=128 if six else 32, mtu=1400, holding_time=ctx.dut.info.holding_time, client_nbma=spoke.nbma, client_proto=address)
    proto = v6(spoke.proto) if six else spoke.proto
    packet = ctx.packet(REG_REQ, (spoke.nbma, proto), reqid, dst_proto=proto if six else ctx.dut.info.proto, flags=NAT, cies=[cie], extensions=ctx.extensions())
    exchange = ctx.exchange(packet, accept=to(ctx, spoke.nbma), stop_after=1)
    if not acked(exchange, reqid):
        _setup_failure(ctx, what, exchange, reqid)
        ctx.stop()


def resolution_request(
    ctx: CaseContext, requester: Spoke, target: str, reqid: int, hopcnt: int = 16, flags: int = RES_FLAGS,
    prefix_len: int = 0, exts: list[T.Extension] | None = None, holding_time: int | None = None,
) -> bytes:
    """A Resolution Request from `requester` for `target`, sent to the DUT (FRR's and Cisco's shape)."""
    sender = (requester.nbma, v6(requester.proto) if ":" in target else requester.proto)
    more = {} if exts is None else {"extensions": exts}
    return ctx.packet(RES_REQUEST, sender, reqid, src_nbma=requester.src_nbma, dst_proto=target, hopcnt=hopcnt, flags=flags,
                      prefix_len=prefix_len, holding_time=holding_time, **more)


def dut_cie(ctx: CaseContext, nbma: str | None = None) -> T.Cie:
    """A transit-record / responder CIE naming the DUT (its protocol address; its NBMA unless given)."""
    info = ctx.dut.info
    return T.Cie(prefix_len=0, mtu=1400, holding_time=info.holding_time, client_nbma=nbma or info.nbma, client_proto=info.proto)


def nhrp_bytes(packet: bytes) -> bytes:
    """The NHRP part of an IPv4/GRE/NHRP packet the templates built."""
    return parse_ipv4_gre(packet).payload


def fix_nhrp_checksum(nhrp: bytes) -> bytes:
    data = bytearray(nhrp)
    size = min(struct.unpack_from("!H", data, 10)[0], len(data))
    data[12:14] = b"\0\0"
    data[12:14] = struct.pack("!H", inet_checksum(bytes(data[:size])))
    return bytes(data)


DUT_KEY = object()  # gre(): the DUT's own GRE key


def gre(
    ctx: CaseContext, src: str, payload: bytes, *, flags: int = 0, key=DUT_KEY, seq: int | None = None,
    checksum: str | int | None = None, version: int = 0, proto: int = C.GRE_PROTO_NHRP,
) -> bytes:
    """An IPv4/GRE packet to the DUT with exactly this GRE header (RFC 2784 §2, RFC 2890 §2).

    `flags`: reserved bits of the first word to set (K, S, C and the version come from the other
    arguments); `key`: the DUT's by default, None for no key; `checksum`: None for no checksum,
    "auto" for the correct one, an int for that value (`dmvpn.wire.ip.gre`).
    """
    key = ctx.dut.info.gre_key if key is DUT_KEY else key
    body = IP.gre(payload, proto=proto, key=key, seq=seq, checksum=checksum, flags=flags, version=version)
    return ipv4(src, ctx.dut.info.nbma, body, C.IPPROTO_GRE)


def icmp_echo(ident: int = 0x4E48, seq: int = 1, size: int = 20) -> bytes:
    return IP.icmp_echo(ident, seq, bytes(range(size)))


def data_packet(src: str, dst: str, seq: int = 1, ttl: int = 64) -> bytes:
    """An inner packet (ICMP echo, IPv4 or IPv6) from `src` to `dst`."""
    if ":" in dst:
        body = IP.icmp_echo(0x4E48, seq, bytes(range(20)), icmp_type=IP.ICMPV6_ECHO, checksum=False)  # checksum not needed
        return IP.ipv6(src, dst, body, 58, hop_limit=ttl)
    return ipv4(src, dst, icmp_echo(seq=seq), 1, ttl=ttl, ident=seq)


def inner_endpoints(packet: bytes) -> tuple[str, str, bytes] | None:
    """(source, destination, transport payload) of an IPv4/IPv6 packet, or None."""
    if len(packet) >= 20 and packet[0] >> 4 == 4:
        ihl = (packet[0] & 0x0F) * 4
        return socket.inet_ntoa(packet[12:16]), socket.inet_ntoa(packet[16:20]), packet[ihl:]
    if len(packet) >= 40 and packet[0] >> 4 == 6:
        return (socket.inet_ntop(socket.AF_INET6, packet[8:24]), socket.inet_ntop(socket.AF_INET6, packet[24:40]), packet[40:])
    return None


def same_data(packet: bytes, sent: bytes) -> bool:
    """`packet` is `sent` as a router forwards it (same endpoints and payload; TTL may differ)."""
    a, b = inner_endpoints(packet), inner_endpoints(sent)
    return a is not None and b is not None and a == b


# -- data and redirect -------------------------------------------------------------------------------


def send_data(ctx: CaseContext, sender: Spoke, inner: bytes, window: float | None = None, accept=None, stop_after: int | None = None) -> Exchange:
    """Data (GRE protocol 0x0800 or 0x86DD) from `sender` to the DUT."""
    proto = C.GRE_PROTO_IPV6 if inner[0] >> 4 == 6 else C.GRE_PROTO_IPV4
    return ctx.exchange(gre(ctx, sender.nbma, inner, proto=proto), window, accept=accept, stop_after=stop_after)


def reachable_via_hub(ctx: CaseContext, sender: Spoke, target: Spoke, tries: int = 10) -> None:
    """Precondition of the data cases: the DUT forwards data from `sender` to `target` at all.

    A spoke that has just registered may not be reachable yet (FRR installs the kernel neighbour
    for it a moment after the Registration Reply: a packet sent within a millisecond is dropped);
    real spokes send data long after registering. The probe's source is a host behind no spoke, in
    a /24 of its own, so it draws no Traffic Indication and leaves the case's flow untouched.
    When no probe gets through, the failed precondition is recorded and the case ends."""
    host = fresh_lan_host(ctx).replace(".0.1", ".0.2")
    for seq in range(1, tries + 1):
        inner = data_packet(host, target.proto, seq=seq)
        exchange = send_data(ctx, sender, inner, window=0.1, accept=to(ctx, target.nbma))
        if any(r.packet is not None and r.packet.nhrp is None for r in exchange.replies):
            return  # data reaches the target (whether intact is the case's own check)
    ctx.precondition("the target spoke reachable via the DUT", False, f"data to the target spoke not forwarded in {tries} tries",
                     "data to the target spoke forwarded")
    ctx.stop()


def forwarded_data(exchange: Exchange, target: Spoke, inner: bytes) -> list[GrePacket]:
    """The data packets the DUT sent on to `target` that are `inner` as routed."""
    return [r.packet for r in exchange.replies if r.packet is not None and r.packet.nhrp is None
            and r.packet.outer_dst == target.nbma and same_data(r.packet.payload, inner)]


def indications_to(exchange: Exchange, sender: Spoke) -> list[GrePacket]:
    return [p for p in exchange.nhrp(TRAFFIC) if p.outer_dst == sender.nbma]


def check_indication(ctx: CaseContext, packet, source: str, inner: bytes, proto_len: int = 4) -> None:
    """draft-detienne-dmvpn-01 Fig. 4 as implemented: from the hub, about the packet's source, code 0,
    the data packet (at least its IP header and 8 bytes) as payload."""
    view = packet.nhrp
    problems = []
    if not view.checksum_ok:
        problems.append("bad checksum")
    if view.code != C.TrafficCode.REDIRECT:
        problems.append(f"traffic code {view.code}")
    if str(view.src_nbma) != ctx.dut.info.nbma:
        problems.append("source NBMA address not the hub's")
    if proto_len == 4 and str(view.src_proto) != ctx.dut.info.proto:
        problems.append("source protocol address not the hub's")
    if view.src_proto_len != proto_len or view.dst_proto_len != proto_len:
        problems.append(f"protocol address lengths {view.src_proto_len}/{view.dst_proto_len}")
    if str(view.dst_proto) != source:
        problems.append("destination protocol address not the data packet's source")
    endpoints, sent = inner_endpoints(view.payload), inner_endpoints(inner)
    header = 40 if proto_len == 16 else 20
    if endpoints is None or endpoints[:2] != sent[:2] or len(view.payload) < header + 8 or endpoints[2][:8] != sent[2][:8]:
        problems.append("payload not the data packet")
    ctx.expect("Traffic Indication", not problems, "; ".join(problems) or "well formed", "well formed")


# -- state probes -----------------------------------------------------------------------------------


def bound(ctx: CaseContext, proto: str) -> bool | None:
    """Whether the DUT holds a binding for `proto`: from its cache when readable, else by asking.

    The question, when asked, is a Resolution Request from the shared requesting spoke: a forwarded
    request or a positive reply means bound; a NAK or silence means not. None when it cannot be told.
    """
    cache = ctx.cache()
    if cache is not None:
        return any(e.get("proto") == proto and e.get("type", "dynamic") not in ("incomplete", "negative") for e in cache)
    spokes = shared_spokes(ctx, record=False)
    if spokes is None or proto in (spokes[0].proto, spokes[1].proto):
        return None
    asker = spokes[0]
    reqid = ctx.dut.reqid_base()
    exchange = ctx.exchange(resolution_request(ctx, asker, proto, reqid), accept=lambda p, raw: ctx.from_dut(p, raw))
    for packet in exchange.nhrp():
        view = packet.nhrp
        if view.reqid != reqid:
            continue
        if view.op_type == RES_REQUEST:
            return True
        if view.op_type == RES_REPLY:
            return bool(view.cies) and view.cies[0].code == 0
    return False


def describe_binding(state: bool | None) -> str:
    return {True: "bound", False: "not bound", None: "unknown"}[state]


def expect_bound(ctx: CaseContext, what: str, proto: str, want: bool) -> None:
    """Record whether `proto` is bound at the DUT, as `want` says it should (or a note when unknowable)."""
    state = bound(ctx, proto)
    if state is None:
        ctx.note(f"{what}: the DUT's bindings cannot be read here")
        return
    ctx.expect(what, state == want, describe_binding(state), describe_binding(want))


# -- reading what came back ---------------------------------------------------------------------------


def cie_list(view: NhrpView, ext_type: int) -> list:
    ext = view.extension(ext_type)
    return list(ext.cies or []) if ext is not None else []


def flags_text(flags: int) -> str:
    return f"0x{flags:04x}"


# -- ESP ---------------------------------------------------------------------------------------------


def esp_replies(ctx: CaseContext, link, window: float, reqid: int | None = None) -> list:
    """Decrypted NHRP packets (of this request ID, when given) that came back on `link` within the window."""
    out = []

    def receive(left: float) -> bytes | None:
        raw = link.recv(left) if left > 0 else None
        if raw is not None:
            try:
                parsed = parse_ipv4_gre(raw)
            except ParseError:
                return raw
            if parsed.nhrp is not None and (reqid is None or parsed.nhrp.reqid == reqid):
                out.append(parsed)
        return raw

    ctx.wait_until(receive, lambda raw: raw is None, window, 0, time_left=True)  # until the link is quiet or the window ends
    return out
