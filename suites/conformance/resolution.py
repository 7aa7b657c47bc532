"""Resolution through the DUT as NHS (RFC 2332 §5.1, §5.2.1, §5.2.2, §5.3.1-5.3.3).

Checklist §D.5, the DUT-NHS rows (RES-01..07). The suite's requesting spoke resolves the suite's
target spoke, both registered with the DUT. An NHS may answer from its own registrations (it is
their authoritative source) or, as DMVPN hubs do, forward the request to the registered client that
then answers for itself; each case accepts either and checks the rules that apply to what the DUT
did: the transit rules (hop count, Forward Transit record, loops) when it forwards, the reply rules
when it answers.

Resolution at the DUT spoke (RFC 2332 §5.2.1, §5.2.2, §5.2.7, §6.2.1): the suite plays its NHS
and its peer spokes.

Checklist §D.5, the DUT-NHC rows: RES-08 and RES-10..RES-16; NHC-06 (new) is RES-08's "directly".
RES-09 (shortcuts off) is not here: the lab's spoke has `ip nhrp shortcut` on.
"""

from __future__ import annotations

import ipaddress

from dmvpn.conformance import CaseContext, case
from dmvpn.conformance.context import describe
from dmvpn.wire import constants as C, templates as T
from dmvpn.wire.fastparse import GrePacket, parse_ipv4_gre

from ._hub import (
    cie_list,
    dut_cie,
    ERROR,
    flags_text,
    nhrp_bytes,
    RES_FLAGS,
    RES_REPLY,
    RES_REQUEST,
    resolution_request,
    shared_spokes,
    Spoke,
    to,
)
from ._nhc import SHORTCUT_FLOW, ERROR, RES_REP, RES_REQ, flag_words, forwarded_exchange, Rig

HOPS = 16  # the hop count the requesting spoke sends


def _answers(exchange, reqid: int) -> list[GrePacket]:
    """What the DUT sent about this request: packets with its request ID, and Error Indications."""
    out = []
    for packet in exchange.nhrp():
        view = packet.nhrp
        if view.op_type == ERROR or view.reqid == reqid:
            out.append(packet)
    return out


def _kind(packet: GrePacket, asker: Spoke, target_nbma: str) -> str:
    view = packet.nhrp
    if view.op_type == RES_REQUEST:
        return "forwarded" if packet.outer_dst == target_nbma else "forwarded elsewhere"
    if view.op_type == RES_REPLY:
        return "answered" if packet.outer_dst == asker.nbma else "answered elsewhere"
    if view.op_type == ERROR:
        return f"Error Indication code {view.code}"
    return describe(packet)


def _check_forwarded(ctx: CaseContext, packet: GrePacket, sent: bytes, hops: int) -> None:
    """RFC 2332 §5.1 and §5.3.2: what a transit NHS may and must change in a request it forwards."""
    from dmvpn.wire.fastparse import parse_nhrp

    view, original = packet.nhrp, parse_nhrp(sent)
    changed = [
        name for name, a, b in (
            ("request ID", view.reqid, original.reqid),
            ("flags", view.flags, original.flags),
            ("source NBMA address", view.src_nbma, original.src_nbma),
            ("source protocol address", view.src_proto, original.src_proto),
            ("destination protocol address", view.dst_proto, original.dst_proto),
            ("CIEs", view.cies, original.cies),
        ) if a != b
    ]
    ctx.expect("fields kept", not changed, "changed: " + ", ".join(changed) if changed else "unchanged", "unchanged")
    ctx.expect("hop count", view.hopcnt == hops - 1, f"hop count {view.hopcnt} (sent {hops})", f"hop count {hops - 1} (sent {hops})")
    ctx.expect("checksum", view.checksum_ok, "checksum ok" if view.checksum_ok else "bad checksum", "checksum ok")
    record = cie_list(view, C.ExtensionType.FORWARD_TRANSIT_NHS_RECORD)
    sent_record = cie_list(original, C.ExtensionType.FORWARD_TRANSIT_NHS_RECORD)
    appended = record[len(sent_record):]
    if len(appended) == 1 and str(appended[0].client_proto) == ctx.dut.info.proto:
        observed = "the DUT appended"
    elif not appended:
        observed = "not updated"
    else:
        observed = f"{len(appended)} CIEs appended, " + ("naming the DUT" if any(str(c.client_proto) == ctx.dut.info.proto for c in appended) else "none naming the DUT")
    ctx.expect("Forward Transit record", observed == "the DUT appended" and record[: len(sent_record)] == sent_record, f"Forward Transit record: {observed}", "Forward Transit record: the DUT appended")
    responder = cie_list(view, C.ExtensionType.RESPONDER_ADDRESS)
    ctx.expect("Responder Address", not responder, "Responder Address filled by a transit NHS" if responder else "Responder Address empty", "Responder Address empty")
    order = [e.type for e in view.extensions]
    want = [e.type for e in original.extensions]
    ctx.expect("extension order", order == want, f"extension types {order}", f"extension types {want}")


def _check_answer(ctx: CaseContext, packet: GrePacket, target: Spoke, sent: bytes) -> None:
    """RFC 2332 §5.2.2, §5.3.1, §5.3.2: the NHS answered as the authoritative responder."""
    from dmvpn.wire.fastparse import parse_nhrp

    view, original = packet.nhrp, parse_nhrp(sent)
    codes = [c.code for c in view.cies]
    ctx.expect("answer", codes == [0] and view.checksum_ok, describe(packet) + ("" if view.checksum_ok else " with a bad checksum"), "Resolution Reply codes [0]")
    if codes and codes[0] == 0:
        cie = view.cies[0]
        right = str(cie.client_nbma) == target.nbma and str(cie.client_proto) in (target.proto, "")
        ctx.expect("binding", right, "the target's binding" if right else "another binding", "the target's binding")
    flags = view.flags
    want = (original.flags & (C.ResolutionFlags.Q | C.ResolutionFlags.S)) | (C.ResolutionFlags.A if original.flags & C.ResolutionFlags.A else 0)
    ctx.expect("flags", flags & want == want, f"flags {flags_text(flags)}", f"flags with {flags_text(want)} (Q, S copied; A: authoritative)")
    responder = cie_list(view, C.ExtensionType.RESPONDER_ADDRESS)
    named = bool(responder) and str(responder[0].client_proto) == ctx.dut.info.proto
    ctx.expect("Responder Address", named, "Responder Address naming the DUT" if named else "Responder Address not naming the DUT", "Responder Address naming the DUT")
    record = cie_list(view, C.ExtensionType.FORWARD_TRANSIT_NHS_RECORD)
    ctx.expect("Forward Transit record", record == cie_list(original, C.ExtensionType.FORWARD_TRANSIT_NHS_RECORD), "Forward Transit record updated by the responder" if record else "Forward Transit record as sent", "Forward Transit record as sent")


@case(
    "RES-01",
    clause="RFC 2332 §5.1 (ar$hopcnt), §5.2.2, §5.3.1, §5.3.2",
    level="MUST",
    role="hub",
    breakers=("bad-checksum", "no-responder-address", "forward-keep-hopcnt", "forward-no-transit-record"),
    requirement="A Resolution Request for a registered spoke is forwarded to that spoke with the hop count "
    "decremented, the NHS's own CIE appended to the Forward Transit record, the Responder Address left empty, "
    "the request ID and all other fields unchanged and the checksum recomputed; or it is answered by the NHS "
    "itself with the registered binding, the Responder Address naming it and the Forward Transit record as sent.",
)
def test_resolution_is_forwarded_or_answered(ctx: CaseContext) -> None:
    spokes = shared_spokes(ctx)
    asker, target = spokes
    reqid = ctx.dut.reqid_base()
    sent = resolution_request(ctx, asker, target.proto, reqid, hopcnt=HOPS)
    exchange = ctx.exchange(sent, accept=to(ctx, asker.nbma, target.nbma), stop_after=1)
    answers = _answers(exchange, reqid)
    if not answers:
        ctx.observe("resolution", False, "no reply", "forwarded to the target, or answered")
        return
    kind = _kind(answers[0], asker, target.nbma)
    ctx.expect("resolution", kind in ("forwarded", "answered"), kind, "forwarded to the target, or answered")
    if kind == "forwarded":
        _check_forwarded(ctx, answers[0], nhrp_bytes(sent), HOPS)
    elif kind == "answered":
        _check_answer(ctx, answers[0], target, nhrp_bytes(sent))


@case(
    "RES-02",
    clause="RFC 2332 §5.1 (ar$hopcnt), §5.2.7",
    level="MUST",
    role="hub",
    breakers=("no-hop-check",),
    requirement="A Resolution Request with hop count 0 that the NHS would forward is dropped and answered "
    "with an Error Indication code 15 (Hop Count Exceeded) to its source; an NHS that answers the request "
    "itself is not forwarding it and may answer.",
)
def test_hop_count_zero_is_not_forwarded(ctx: CaseContext) -> None:
    spokes = shared_spokes(ctx)
    asker, target = spokes
    reqid = ctx.dut.reqid_base()
    exchange = ctx.exchange(resolution_request(ctx, asker, target.proto, reqid, hopcnt=0), accept=to(ctx, asker.nbma, target.nbma))
    kinds = [_kind(p, asker, target.nbma) for p in _answers(exchange, reqid)]
    if not kinds:
        observed = "no reply"
    elif any(k.startswith("forwarded") for k in kinds):
        observed = "forwarded with hop count 0"
    else:
        observed = kinds[0]
    ok = observed == f"Error Indication code {C.ErrorCode.HOP_COUNT_EXCEEDED}" or observed == "answered"
    ctx.expect("hop count 0", ok, observed, "Error Indication code 15 (or answered by the DUT itself)")


@case(
    "RES-03",
    clause="RFC 2332 §5.3.2, §5.2.7",
    level="MUST",
    role="hub",
    breakers=("no-loop-check",),
    requirement="A request being forwarded whose Forward Transit NHS record already holds the NHS's protocol "
    "address is discarded with an Error Indication code 3 (NHRP Loop Detected), whether or not the record "
    "entry also carries the NHS's NBMA address.",
)
def test_forward_record_loop(ctx: CaseContext) -> None:
    spokes = shared_spokes(ctx)
    asker, target = spokes
    probes = (("own NBMA and protocol address in the record", dut_cie(ctx)), ("own protocol address in the record", dut_cie(ctx, nbma="198.51.100.254")))
    for label, cie in probes:
        reqid = ctx.dut.reqid_base()
        packet = resolution_request(ctx, asker, target.proto, reqid, exts=ctx.extensions(forward=[cie]))
        exchange = ctx.exchange(packet, accept=to(ctx, asker.nbma, target.nbma))
        kinds = [_kind(p, asker, target.nbma) for p in _answers(exchange, reqid)]
        if any(k.startswith("forwarded") for k in kinds):
            observed = "forwarded"
        else:
            observed = kinds[0] if kinds else "no reply"
        ok = observed == f"Error Indication code {C.ErrorCode.LOOP_DETECTED}" or observed == "answered"
        ctx.expect(label, ok, f"{label}: {observed}", f"{label}: Error Indication code 3 (or answered by the DUT itself)")


@case(
    "RES-04",
    clause="RFC 2332 §5.3.1, §5.2.2, §5.2.7",
    level="MUST",
    role="hub",
    breakers=("no-loop-check",),
    requirement="A Resolution Reply the NHS forwards to its client whose Responder Address extension holds the "
    "NHS's own protocol address is discarded with an Error Indication code 3 (NHRP Loop Detected).",
)
def test_responder_address_loop(ctx: CaseContext) -> None:
    spokes = shared_spokes(ctx)
    asker, responder = spokes
    info = ctx.dut.info

    def reply(reqid: int, responder_cie: T.Cie) -> bytes:
        cie = T.Cie(prefix_len=32, mtu=1400, holding_time=info.holding_time, client_nbma=responder.nbma, client_proto=responder.proto)
        flags = RES_FLAGS | C.ResolutionFlags.D
        return ctx.packet(C.PacketType.RESOLUTION_REPLY, responder, reqid, hopcnt=HOPS, src_nbma=asker.nbma, src_proto=asker.proto,
                          dst_proto=responder.proto, flags=flags, cies=[cie], extensions=ctx.extensions(responder=[responder_cie]))

    # Context, not a verdict: does the DUT forward a reply for its client at all (§5.2.2)?
    reqid = ctx.dut.reqid_base()
    control = ctx.exchange(reply(reqid, T.Cie(mtu=1400, holding_time=info.holding_time, client_nbma=responder.nbma, client_proto=responder.proto)), accept=to(ctx, asker.nbma, responder.nbma), stop_after=1)
    ctx.note("a Resolution Reply for the requesting spoke (responder: the target) was " + ("forwarded to it" if any(p.outer_dst == asker.nbma and p.nhrp.op_type == RES_REPLY for p in control.nhrp()) else "not forwarded"))
    reqid = ctx.dut.reqid_base()
    exchange = ctx.exchange(reply(reqid, dut_cie(ctx)), accept=to(ctx, asker.nbma, responder.nbma))
    answers = [p for p in exchange.nhrp() if p.nhrp.op_type == ERROR or p.nhrp.reqid == reqid]
    if any(p.nhrp.op_type == RES_REPLY for p in answers):
        observed = "Resolution Reply forwarded"
    elif answers:
        observed = describe(answers[0])
    else:
        observed = "no reply"
    ctx.expect("Responder Address naming the DUT", observed == "Error Indication code 3", observed, "Error Indication code 3")


@case(
    "RES-05",
    clause="RFC 2332 §5.2.2, §5.2.0.1 (Holding Time)",
    level="MUST",
    role="hub",
    breakers=("nak-code-11", "nak-holding-time", "bad-checksum"),
    requirement="A Resolution Request for an address without any binding is answered with a NAK carrying a "
    "single CIE with code 12 (No Internetworking Layer Address to NBMA Address Binding Exists) and holding "
    "time 0, or, when routing gives no path, dropped (or reported with Error Indication code 6); it is never "
    "answered positively.",
)
def test_no_binding_nak(ctx: CaseContext) -> None:
    spokes = shared_spokes(ctx)
    asker, _ = spokes
    unknown = ctx.identity()[1]  # an address of the DMVPN nobody registered
    reqid = ctx.dut.reqid_base()
    exchange = ctx.exchange(resolution_request(ctx, asker, unknown, reqid), accept=to(ctx, asker.nbma), stop_after=1)
    answers = [p for p in exchange.nhrp() if p.nhrp.op_type == ERROR or p.nhrp.reqid == reqid]
    if not answers:
        ctx.expect("no binding", True, "no reply", "NAK code 12 with holding time 0 (or no reply when not routed)")
        return
    view = answers[0].nhrp
    if view.op_type == RES_REPLY:
        cies = [(c.code, c.holding_time) for c in view.cies]
        observed = f"Resolution Reply codes {[c for c, _ in cies]}" + (" holding time 0" if cies and all(h == 0 for _, h in cies) else " with a holding time")
        ok = len(cies) == 1 and cies[0] == (C.CieCode.NO_BINDING_EXISTS, 0) and view.checksum_ok
    else:
        observed = describe(answers[0])
        ok = view.op_type == ERROR and view.code == C.ErrorCode.PROTOCOL_ADDRESS_UNREACHABLE
    ctx.expect("no binding", ok, observed, "Resolution Reply codes [12] holding time 0 (or no reply when not routed)")


@case(
    "RES-06",
    clause="RFC 2332 §5.2.1 (U), §5.2.2 (code 13)",
    level="MUST",
    role="hub",
    breakers=("ignore-resolution-uniqueness",),
    requirement="A Resolution Request with the U bit set for an address the NHS holds only a non-unique binding "
    "for is answered with a NAK code 13 (Binding Exists But Is Not Unique) and no positive CIE; an NHS that "
    "forwards it to the registered client keeps the U bit.",
)
def test_unique_resolution_of_a_non_unique_binding(ctx: CaseContext) -> None:
    spokes = shared_spokes(ctx)
    asker, target = spokes  # the target registered without U
    reqid = ctx.dut.reqid_base()
    flags = RES_FLAGS | C.ResolutionFlags.U
    exchange = ctx.exchange(resolution_request(ctx, asker, target.proto, reqid, flags=flags, prefix_len=0xFF), accept=to(ctx, asker.nbma, target.nbma), stop_after=1)
    answers = _answers(exchange, reqid)
    if not answers:
        ctx.observe("U set", False, "no reply", "Resolution Reply codes [13] (or forwarded with U set)")
        return
    packet = answers[0]
    kind = _kind(packet, asker, target.nbma)
    if kind == "forwarded":
        keeps = bool(packet.nhrp.flags & C.ResolutionFlags.U)
        observed = "forwarded with U set" if keeps else "forwarded with U cleared"
        ok = keeps
    elif kind == "answered":
        observed = describe(packet)
        ok = [c.code for c in packet.nhrp.cies] == [C.CieCode.BINDING_NOT_UNIQUE]
    else:
        observed, ok = kind, False
    ctx.expect("U set", ok, observed, "Resolution Reply codes [13] (or forwarded with U set)")


@case(
    "RES-07",
    clause="RFC 2332 §5.2.2 (A), §6.2.1",
    level="MUST",
    role="hub",
    breakers=("answer-non-authoritative",),
    requirement="A Resolution Request with the A bit set (authoritative information only) is never answered "
    "from information the NHS learnt from another station's Resolution Request (non-authoritative, §6.2.1).",
)
def test_authoritative_request_is_not_answered_from_hearsay(ctx: CaseContext) -> None:
    spokes = shared_spokes(ctx)
    asker, target = spokes
    stranger = Spoke(*ctx.identity())  # never registered
    # The stranger's request (S set, a holding time) offers its binding for non-authoritative caching.
    first = ctx.dut.reqid_base()
    ctx.exchange(resolution_request(ctx, stranger, target.proto, first), accept=to(ctx, stranger.nbma, target.nbma), stop_after=1)
    reqid = ctx.dut.reqid_base()
    exchange = ctx.exchange(resolution_request(ctx, asker, stranger.proto, reqid), accept=to(ctx, asker.nbma, stranger.nbma), stop_after=1)
    answers = [p for p in exchange.nhrp() if p.nhrp.reqid == reqid or p.nhrp.op_type == ERROR]
    positive = [p for p in answers if p.nhrp.op_type == RES_REPLY and p.nhrp.cies and p.nhrp.cies[0].code == 0]
    if positive:
        observed = "answered with the unregistered station's binding"
    elif answers:
        observed = describe(answers[0]) if answers[0].nhrp.op_type != RES_REQUEST else "forwarded"
    else:
        observed = "no reply"
    ctx.expect("A set", not positive, observed, "no positive answer (a NAK, forwarding or no reply)")


# -- the DUT as NHC (spoke): the suite plays its NHS and its peer spokes ------------------------------


NEEDS = SHORTCUT_FLOW


Q, A, D, S = C.ResolutionFlags.Q, C.ResolutionFlags.A, C.ResolutionFlags.D, C.ResolutionFlags.S


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
    rig.register()
    requester, target, reqid, packet, exchange = forwarded_exchange(ctx, rig)
    reply = ctx.expect_reply(exchange, RES_REP, reqid=reqid, codes=[0])
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
    "RES-10",
    clause="RFC 2332 §5.2.0.1, §5.2.1, §6.2.1",
    level="MUST",
    role="spoke",
    breakers=("cache-without-s", "bad-checksum"),
    requirement="A Resolution Request with the S bit clear and CIE holding time 0 is answered, and the "
    "requester's binding is not cached.",
    requires=NEEDS + ("cache",),
)
def test_source_without_s_is_not_cached(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    rig.register()
    requester, target, reqid, packet, exchange = forwarded_exchange(ctx, rig, flags=Q | A, holding_time=0)
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
    breakers=("no-error-10", "cache-unsolicited", "bad-checksum"),
    requirement="An unsolicited Resolution Reply (a request ID the spoke never used) gets Error Indication 10 "
    "(Invalid NHRP Resolution Reply Received) and installs no shortcut.",
    requires=("trigger-registration",),
)
def test_unsolicited_reply_gets_error_10(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    rig.register()
    info = ctx.dut.info
    peer, target = rig.peer(), rig.target()
    reply = T.resolution_reply(
        outer_src=peer[0], outer_dst=info.nbma, src_nbma=info.nbma, src_proto=info.proto, dst_proto=target,
        gre_key=info.gre_key, reqid=ctx.dut.reqid_base() | 0x40000000, flags=Q | A | D | S, hopcnt=64,
        prefix_len=24, holding_time=600, mtu=1400, responder_nbma=peer[0], responder_proto=peer[1], password=info.password,
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
    rig.register()
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
    rig.register()
    peer, target = rig.peer(), rig.target()
    rig.shortcut_to(peer, target, code=C.CieCode.ADMINISTRATIVELY_PROHIBITED)
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
    rig.register()
    for prefix_len in (0, 0xFF):
        peer, target = rig.peer(), rig.target()
        rig.shortcut_to(peer, target, prefix_len=prefix_len)
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
    rig.register()
    peer, target = rig.peer(), rig.target()
    nat = rig.nat_address()
    rig.shortcut_to(peer, target, nat_nbma=nat)
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
    rig.register()
    info = ctx.dut.info
    target = rig.target()
    request = rig.solicit_resolution(target)
    if request is None:
        ctx.observe("Resolution Request after a Traffic Indication", False, "no Resolution Request", f"a Resolution Request for {target}")
        return
    error = ctx.packet(ERROR, (rig.nhs_nbma, rig.nhs_proto), error_code=C.ErrorCode.PROTOCOL_ADDRESS_UNREACHABLE,
                       payload=request.nhrp.raw, hopcnt=0)
    again = [p for p in rig.send(error, rig.retry_window, (RES_REQ,)).nhrp(RES_REQ) if str(p.nhrp.dst_proto) == target]
    ctx.expect("no retransmission", not again, "retransmitted" if again else "no retransmission", "no retransmission")
    again = [p for p in rig.send(rig.traffic_indication(target), ctx.window, (RES_REQ,)).nhrp(RES_REQ) if str(p.nhrp.dst_proto) == target]
    ctx.expect(
        "no new resolution",
        not again,
        "resolved again at the next Traffic Indication" if again else "not resolved again",
        "not resolved again",
    )
