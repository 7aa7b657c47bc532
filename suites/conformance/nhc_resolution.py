"""Resolution at the DUT spoke (RFC 2332 §5.2.1, §5.2.2, §5.2.7, §6.2.1): the suite plays its NHS
and its peer spokes.

Checklist §D.5, the DUT-NHC rows: RES-08 and RES-10..RES-16; NHC-06 (new) is RES-08's "directly".
RES-09 (shortcuts off) is not here: the lab's spoke has `ip nhrp shortcut` on.
"""

from __future__ import annotations

import ipaddress

from dmvpn.conformance import CaseContext, case
from dmvpn.wire import constants as C
from dmvpn.wire import templates as T
from dmvpn.wire.fastparse import parse_ipv4_gre

from ._nhc import ERROR, RES_REP, RES_REQ, Rig, flag_words

NEEDS = ("trigger-registration", "shortcut")
Q, A, D, S = C.ResolutionFlags.Q, C.ResolutionFlags.A, C.ResolutionFlags.D, C.ResolutionFlags.S


def _forwarded(ctx: CaseContext, rig: Rig, flags: int = 0xC802, holding_time: int = 600):
    """A peer's Resolution Request for an address behind the DUT, as the tester-as-hub forwards it."""
    requester = rig.peer()
    target = rig.lan_address(10)
    reqid = ctx.dut.reqid_base()
    packet = rig.forwarded_request(requester, target, reqid, flags=flags, holding_time=holding_time)
    exchange = rig.send(packet, ctx.window, (RES_REP, ERROR), stop_after=1)
    return requester, target, reqid, packet, exchange


@case(
    "RES-08",
    clause="RFC 2332 §5.2.2, §5.3, §5.3.1, §6.3",
    level="MUST",
    role="spoke",
    breakers=("no-responder-address", "bad-checksum"),
    requirement="A Resolution Request forwarded by the NHS for an address behind the spoke is answered by a "
    "Resolution Reply: same request ID, code 0, A and D set, Q and S copied, one CIE naming the spoke (NBMA and "
    "protocol address) with a holding time and a prefix within the spoke's own LAN, every extension of the request "
    "present and the Responder Address naming the spoke.",
    requires=NEEDS,
)
def test_forwarded_request_is_answered(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    if rig.register() is None:
        return
    requester, target, reqid, packet, exchange = _forwarded(ctx, rig)
    reply = ctx.expect_reply(exchange, RES_REP, reqid=reqid, codes=[0])
    if reply is None:
        return
    info = ctx.dut.info
    ok_flags = reply.flags & (A | D) == (A | D) and reply.flags & (Q | S) == (Q | S)
    ctx.expect("flags", ok_flags, f"flags {flag_words(reply)}", "A and D set, Q and S copied")
    cie = reply.cies[0]
    hop = (str(cie.client_nbma), str(cie.client_proto))
    ctx.expect("CIE next hop", hop == (info.nbma, info.proto), f"CIE next hop {hop[0]}/{hop[1]}", f"CIE next hop {info.nbma}/{info.proto}")
    ctx.expect("CIE holding time", cie.holding_time > 0, f"CIE holding time {cie.holding_time}", "a non-zero CIE holding time")
    plen = 32 if cie.prefix_len in (0, 0xFF) else cie.prefix_len
    inside = plen <= 32 and ipaddress.ip_network(f"{target}/{plen}", strict=False).subnet_of(rig.lan)
    ctx.expect("CIE prefix", inside, f"CIE prefix length {cie.prefix_len}", f"a prefix within {rig.lan}")
    sent = [e.type for e in parse_extensions(packet)]
    got = [e.type for e in reply.extensions]
    ctx.expect("extensions present", all(t in got for t in sent), f"extension types {got}", f"extension types {sent}")
    responder = reply.extension(C.ExtensionType.RESPONDER_ADDRESS)
    named = responder is not None and bool(responder.cies) and str(responder.cies[0].client_proto) == info.proto
    ctx.expect(
        "Responder Address",
        named,
        "no Responder Address" if responder is None else f"Responder Address {[str(c.client_proto) for c in responder.cies or []]}",
        f"Responder Address naming {info.proto}",
    )


def parse_extensions(packet: bytes):
    return parse_ipv4_gre(packet).nhrp.extensions


@case(
    "NHC-06",
    clause="DMVPN Phase 3 (reference §A.16: the egress answers over the spoke-to-spoke path); RFC 2332 §6.2.1",
    level="SHOULD",
    role="spoke",
    breakers=("reply-via-nhs",),
    requirement="The spoke answers a forwarded Resolution Request (S set, source holding time given) directly to "
    "the requester's NBMA address, not back through the NHS.",
    requires=NEEDS,
)
def test_reply_goes_directly_to_the_requester(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    if rig.register() is None:
        return
    requester, target, reqid, packet, exchange = _forwarded(ctx, rig)
    ctx.expect_reply(exchange, RES_REP, reqid=reqid, codes=[0], to=requester[0])


@case(
    "RES-10",
    clause="RFC 2332 §5.2.0.1, §5.2.1, §6.2.1",
    level="MUST",
    role="spoke",
    breakers=("cache-without-s",),
    requirement="A Resolution Request with the S bit clear and CIE holding time 0 is answered, and the "
    "requester's binding is not cached.",
    requires=NEEDS + ("cache",),
)
def test_source_without_s_is_not_cached(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    if rig.register() is None:
        return
    requester, target, reqid, packet, exchange = _forwarded(ctx, rig, flags=Q | A, holding_time=0)
    ctx.expect_reply(exchange, RES_REP, reqid=reqid)
    cache = ctx.cache()
    if cache is None:
        return
    entry = next((e for e in cache if e.get("proto") == requester[1]), None)
    ctx.expect("requester not cached", entry is None, "requester's binding cached" if entry else "not cached", "not cached")


@case(
    "RES-11",
    clause="RFC 2332 §5.2.2, §5.2.7",
    level="SHOULD",
    role="spoke",
    breakers=("no-error-10", "cache-unsolicited"),
    requirement="An unsolicited Resolution Reply (a request ID the spoke never used) gets Error Indication 10 "
    "(Invalid NHRP Resolution Reply Received) and installs no shortcut.",
    requires=("trigger-registration",),
)
def test_unsolicited_reply_gets_error_10(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    if rig.register() is None:
        return
    info = ctx.dut.info
    peer, target = rig.peer(), rig.target()
    reply = T.resolution_reply(
        outer_src=peer[0], outer_dst=info.nbma, src_nbma=info.nbma, src_proto=info.proto, dst_proto=target,
        gre_key=info.gre_key, reqid=ctx.dut.reqid_base() | 0x40000000, flags=Q | A | D | S, hopcnt=64,
        prefix_len=24, holding_time=600, mtu=1400, responder_nbma=peer[0], responder_proto=peer[1],
    ).packet
    exchange = rig.send(reply, ctx.window, (ERROR,), stop_after=1)
    ctx.expect_error_indication(exchange, C.ErrorCode.INVALID_RESOLUTION_REPLY)
    found = rig.shortcut_for(target)
    if found is not False:
        ctx.expect("no shortcut", found is None, "shortcut installed from it" if found else "no shortcut", "no shortcut")


@case(
    "RES-12",
    clause="RFC 2332 §5.2.0.1, §6.2.1",
    level="SHOULD",
    role="spoke",
    breakers=("new-reqid-on-retransmit", "no-retransmit"),
    requirement="The spoke's unanswered Resolution Request is sent again, with the same request ID.",
    requires=NEEDS,
)
def test_resolution_retransmission_keeps_the_request_id(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    if rig.register() is None:
        return
    target = rig.target()
    first = rig.solicit_resolution(target)
    if first is None:
        ctx.observe("Resolution Request after a Traffic Indication", False, "no Resolution Request", f"a Resolution Request for {target}")
        return
    again = rig.wait_for(rig.retry_window, (RES_REQ,), lambda p: str(p.nhrp.dst_proto) == target)
    if again is None:
        ctx.observe("retransmission", False, f"no retransmission within {rig.retry_window:g} s", "a retransmission with the same request ID")
    elif again.nhrp.reqid == first.nhrp.reqid:
        ctx.observe("retransmission", True, "retransmitted with the same request ID", "a retransmission with the same request ID")
    else:
        ctx.observe("retransmission", False, "retransmitted with a new request ID", "a retransmission with the same request ID")


@case(
    "RES-13",
    clause="RFC 2332 §5.2.2",
    level="MUST",
    role="spoke",
    breakers=("shortcut-from-nak",),
    requirement="A Resolution Reply whose CIE carries a NAK code (here 4, with next-hop addresses that must be "
    "ignored) installs no shortcut: data keeps going via the NHS.",
    requires=NEEDS + ("send-data",),
)
def test_nak_installs_no_shortcut(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    if rig.register() is None:
        return
    peer, target = rig.peer(), rig.target()
    if rig.shortcut_to(peer, target, code=C.CieCode.ADMINISTRATIVELY_PROHIBITED) is None:
        return
    found = rig.wait_shortcut(target, present=True, timeout=ctx.quiet / 3)
    if found is not False:
        ctx.expect("no shortcut", not found, "shortcut installed from a NAK" if found else "no shortcut", "no shortcut")
    rig.expect_data_via_nhs(target, peer[0])


@case(
    "RES-14",
    clause="RFC 2332 §5.2.0.1, §5.2.2",
    level="MUST",
    role="spoke",
    breakers=("prefix-0-as-default",),
    requirement="A Resolution Reply with CIE prefix length 0 (no equivalence information, the same as 0xFF) or "
    "0xFF gives a host shortcut for the resolved address, not a wider one.",
    requires=NEEDS,
)
def test_prefix_0_and_255_mean_a_host(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    if rig.register() is None:
        return
    for prefix_len in (0, 0xFF):
        peer, target = rig.peer(), rig.target()
        if rig.shortcut_to(peer, target, prefix_len=prefix_len) is None:
            return
        found = rig.wait_shortcut(target)
        if found is False:
            ctx.note("the DUT's shortcuts cannot be read: prefix handling not checked")
            return
        got = ipaddress.ip_network(found["prefix"], strict=False).prefixlen if found else None
        observed = f"prefix {prefix_len} -> no shortcut" if got is None else f"prefix {prefix_len} -> /{got}"
        ctx.expect(f"prefix {prefix_len}", got == 32, observed, f"prefix {prefix_len} -> /32")


@case(
    "RES-15",
    clause="Cisco NAT extension (reference §A.10, §A.16; FRR nhrp_shortcut.c)",
    level="SHOULD",
    role="spoke",
    breakers=("ignore-nat-ext",),
    requirement="When a Resolution Reply's NAT extension gives another (post-NAT) NBMA address for the "
    "responder, the shortcut and the data use that address, not the CIE's.",
    requires=NEEDS + ("nat", "send-data"),
)
def test_nat_extension_address_is_used(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    if rig.register() is None:
        return
    peer, target = rig.peer(), rig.target()
    nat = rig.nat_address()
    if rig.shortcut_to(peer, target, nat_nbma=nat) is None:
        return
    rig.wait_shortcut(target)
    destinations = rig.data_path(target)
    if not destinations:
        words = "no data seen"
    elif set(destinations) == {nat}:
        words = "data sent to the NAT extension's address"
    elif set(destinations) == {peer[0]}:
        words = "data sent to the CIE's NBMA address"
    else:
        words = rig.path_words(destinations, peer[0])
    ctx.expect("data path", words == "data sent to the NAT extension's address", words, "data sent to the NAT extension's address")


@case(
    "RES-16",
    clause="RFC 2332 §5.2.7 (code 6: the address is unreachable along the routed path)",
    level="SHOULD",
    role="spoke",
    breakers=("retry-after-error-6",),
    requirement="After Error Indication 6 (Protocol Address Unreachable) answers its Resolution Request, the "
    "spoke neither retransmits that request nor resolves the same address again at the next Traffic Indication.",
    requires=NEEDS,
)
def test_error_6_stops_the_resolution(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    if rig.register() is None:
        return
    info = ctx.dut.info
    target = rig.target()
    request = rig.solicit_resolution(target)
    if request is None:
        ctx.observe("Resolution Request after a Traffic Indication", False, "no Resolution Request", f"a Resolution Request for {target}")
        return
    error = T.error_indication(
        C.ErrorCode.PROTOCOL_ADDRESS_UNREACHABLE, 0, payload=request.nhrp.raw, outer_src=rig.nhs_nbma, outer_dst=info.nbma,
        src_proto=rig.nhs_proto, dst_proto=info.proto, gre_key=info.gre_key, hopcnt=0,
    ).packet
    again = [p for p in rig.send(error, rig.retry_window, (RES_REQ,)).nhrp(RES_REQ) if str(p.nhrp.dst_proto) == target]
    ctx.expect("no retransmission", not again, "retransmitted" if again else "no retransmission", "no retransmission")
    again = [p for p in rig.send(rig.traffic_indication(target), ctx.window, (RES_REQ,)).nhrp(RES_REQ) if str(p.nhrp.dst_proto) == target]
    ctx.expect(
        "no new resolution",
        not again,
        "resolved again at the next Traffic Indication" if again else "not resolved again",
        "not resolved again",
    )
