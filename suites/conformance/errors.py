"""Error Indication rules (RFC 2332 §5.2.7, §5.1): the DUT as NHS.

Checklist §D.8 (ERR-01..04). Two offending packets every NHS must report when it handles them:
a Registration Request with an unknown compulsory extension (the NHS is the responder: Error
Indication 1) and a Resolution Request with hop count 0 that the NHS would forward (Error
Indication 15). What a DUT makes of each decides which rules can be checked; a DUT that reports
neither is left to REG-18 and RES-02, which ask for the reports themselves.
"""

from __future__ import annotations

import struct

from dmvpn.conformance import CaseContext, case
from dmvpn.conformance.context import describe
from dmvpn.wire import constants as C
from dmvpn.wire import templates as T

from ._hub import (
    about,
    bound,
    ERROR,
    fix_nhrp_checksum,
    gre,
    nhrp_bytes,
    REG_REPLY,
    REG_REQ,
    RES_REQUEST,
    resolution_request,
    shared_spokes,
    Spoke,
    to,
)

UNKNOWN = T.Extension(0x0101, b"\x00\x00\x00\x00", compulsory=True)


def _offenders(ctx: CaseContext) -> tuple[Spoke, Spoke, Spoke, list[tuple[str, int, bytes, Spoke]]]:
    """(asker, target, the registering spoke, [(label, request ID, packet, its sender)]) of the two offenders."""
    asker, target = shared_spokes(ctx)
    fresh = Spoke(*ctx.identity())
    reg_id, res_id = ctx.dut.reqid_base(), ctx.dut.reqid_base()
    offenders = [
        ("unknown compulsory extension", reg_id, ctx.packet(REG_REQ, fresh, reg_id, extensions=ctx.extensions(UNKNOWN)), fresh),
        ("hop count 0", res_id, resolution_request(ctx, asker, target.proto, res_id, hopcnt=0), asker),
    ]
    return asker, target, fresh, offenders


@case(
    "ERR-01",
    clause="RFC 2332 §5.2.7",
    level="MUST",
    role="hub",
    breakers=("error-twice", "error-and-process"),
    requirement="No more than one Error Indication is generated for a single NHRP packet, and a packet that "
    "drew an Error Indication is discarded (not also answered, forwarded or registered).",
)
def test_one_error_per_packet_and_discarded(ctx: CaseContext) -> None:
    setup = _offenders(ctx)
    asker, target, fresh, offenders = setup
    exchange = ctx.exchange([p for _, _, p, _ in offenders], accept=to(ctx, asker.nbma, target.nbma, fresh.nbma))
    for label, reqid, _packet, _sender in offenders:
        errors = [p for p in exchange.nhrp(ERROR) if about(p, reqid)]
        handled = [p for p in exchange.nhrp() if p.nhrp.op_type != ERROR and p.nhrp.reqid == reqid]
        if label.startswith("unknown") and errors and bound(ctx, fresh.proto):
            handled.append(None)
        if not errors:
            observed, ok = "no Error Indication", True
        elif len(errors) > 1:
            observed, ok = f"{len(errors)} Error Indications", False
        elif handled:
            observed, ok = "Error Indication and " + ("answered" if any(p is not None and p.nhrp.op_type == REG_REPLY for p in handled) else "forwarded" if any(p is not None and p.nhrp.op_type == RES_REQUEST for p in handled) else "processed"), False
        else:
            observed, ok = "one Error Indication, packet discarded", True
        if not errors:
            ctx.note(f"{label}: no Error Indication, so nothing to count")
        ctx.expect(label, ok, f"{label}: {observed}", f"{label}: at most one Error Indication, packet discarded")


@case(
    "ERR-02",
    clause="RFC 2332 §5.2.7, §5.1 (ar$hopcnt)",
    level="MUST",
    role="hub",
    breakers=("error-on-error", "no-hop-check"),
    requirement="An Error Indication is never answered with an Error Indication, even when it is itself in "
    "error: one with hop count 0 that the NHS would forward is dropped quietly (not forwarded), one with a bad "
    "checksum is dropped quietly.",
    malformed=True,
)
def test_erroneous_error_indication_draws_none(ctx: CaseContext) -> None:
    spokes = shared_spokes(ctx)
    asker, target = spokes
    info = ctx.dut.info
    offending = nhrp_bytes(ctx.packet(REG_REQ, asker, 7))
    transit = ctx.packet(ERROR, asker, error_code=C.ErrorCode.PROTOCOL_ERROR, error_offset=12, payload=offending,
                         dst_proto=target.proto, hopcnt=0)
    exchange = ctx.exchange(transit, window=ctx.quiet, accept=to(ctx, asker.nbma, target.nbma))
    answers = exchange.nhrp()
    ctx.expect("hop count 0 in transit", not answers, "hop count 0 in transit: " + (describe(answers[0]) + (" forwarded" if answers[0].outer_dst == target.nbma else "") if answers else "dropped quietly"), "hop count 0 in transit: dropped quietly")
    to_dut = ctx.packet(ERROR, asker, error_code=C.ErrorCode.PROTOCOL_ERROR, error_offset=12, payload=offending, hopcnt=0)
    nhrp = bytearray(nhrp_bytes(to_dut))
    nhrp[12] ^= 0x5A  # a wrong checksum
    exchange = ctx.exchange(gre(ctx, asker.nbma, bytes(nhrp)), window=ctx.quiet, accept=to(ctx, asker.nbma, target.nbma))
    answers = exchange.nhrp()
    ctx.expect("bad checksum", not answers, "bad checksum: " + (describe(answers[0]) if answers else "dropped quietly"), "bad checksum: dropped quietly")


@case(
    "ERR-03",
    clause="RFC 2332 §5.2.7",
    level="SHOULD",
    role="hub",
    breakers=("no-ei-loop-check", "error-on-error"),
    requirement="A transiting Error Indication whose Source NBMA and Source Protocol addresses are the NHS's "
    "own (an Error Indication in a loop) is dropped quietly: not forwarded, not answered.",
)
def test_own_error_indication_in_transit_is_dropped(ctx: CaseContext) -> None:
    spokes = shared_spokes(ctx)
    asker, target = spokes
    info = ctx.dut.info
    offending = nhrp_bytes(ctx.packet(REG_REQ, target, 7))
    looped = ctx.packet(ERROR, asker, error_code=C.ErrorCode.PROTOCOL_ERROR, error_offset=12, payload=offending,
                        src_nbma=info.nbma, src_proto=info.proto, dst_proto=target.proto, hopcnt=8)
    exchange = ctx.exchange(looped, window=ctx.quiet, accept=to(ctx, asker.nbma, target.nbma))
    answers = exchange.nhrp()
    if not answers:
        observed = "dropped quietly"
    elif answers[0].outer_dst == target.nbma and answers[0].nhrp.op_type == ERROR:
        observed = "forwarded"
    else:
        observed = describe(answers[0])
    ctx.expect("own Error Indication", not answers, observed, "dropped quietly")


@case(
    "ERR-04",
    clause="RFC 2332 §5.2.7, §5 (unused fields)",
    level="MUST",
    role="hub",
    breakers=("error-with-extensions", "error-src-offender", "bad-checksum"),
    requirement="An Error Indication the NHS sends has a valid checksum, the NBMA and protocol addresses of the "
    "NHS (the station that observed the error) as source, the offender's protocol address as destination, a "
    "zero unused field, the offending packet as contents, and no extensions.",
)
def test_error_indication_format(ctx: CaseContext) -> None:
    setup = _offenders(ctx)
    asker, target, fresh, offenders = setup
    exchange = ctx.exchange([p for _, _, p, _ in offenders], accept=to(ctx, asker.nbma, target.nbma, fresh.nbma))
    for label, reqid, packet, sender in offenders:
        errors = [p for p in exchange.nhrp(ERROR) if about(p, reqid)]
        if errors:
            break
    else:
        ctx.note("neither offending packet drew an Error Indication: there is no format to check (see REG-18, RES-02)")
        ctx.expect("Error Indication format", True, "no Error Indication to check", "a well-formed Error Indication")
        return
    info = ctx.dut.info
    view, offending = errors[0].nhrp, nhrp_bytes(packet)
    problems = []
    if not view.checksum_ok:
        problems.append("bad checksum")
    if str(view.src_nbma) != info.nbma:
        problems.append("source NBMA address not the DUT's" + (" (the offender's)" if str(view.src_nbma) == sender.src_nbma else ""))
    if str(view.src_proto) != info.proto:
        problems.append("source protocol address not the DUT's")
    if str(view.dst_proto) != sender.proto:
        problems.append("destination protocol address not the offender's")
    unused = struct.unpack_from("!H", view.raw, 22)[0]
    if unused:
        problems.append(f"unused field 0x{unused:04x}")
    payload = view.payload
    if len(payload) < 20 or offending[: len(payload)] != payload and fix_nhrp_checksum(offending)[: len(payload)] != payload:
        problems.append("contents not the offending packet")
    if view.extensions or struct.unpack_from("!H", view.raw, 14)[0]:
        problems.append("extensions")
    ctx.expect("Error Indication format", not problems, f"{label}: " + ("; ".join(problems) or "well formed"), f"{label}: well formed")
