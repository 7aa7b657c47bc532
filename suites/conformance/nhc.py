"""The DUT spoke's own registration (RFC 2332 §5.2.0.1, §5.2.3, §5.3): the suite plays its NHS.

New checklist IDs NHC-01..05 (§D has no rows for the spoke's own Registration Requests): their
format, their retransmission with the same request ID, and the refresh before the holding time
runs out.

NHC-06 (the spoke answers a forwarded Resolution Request directly) and NHC-07 (an unrenewed
shortcut expires) are here too: the checklist's NHC rows, whatever part of the protocol they touch.
"""

from __future__ import annotations

from collections import Counter
import struct
import time

from dmvpn.conformance import CaseContext, case
from dmvpn.wire import constants as C

from ._nhc import REG_REQ, RES_REP, RES_REQ, flag_words, forwarded_exchange, Rig

NEEDS = ("trigger-registration",)
SHORTCUT_NEEDS = ("trigger-registration", "shortcut")


def _requested(ctx: CaseContext, rig: Rig):
    """The DUT's Registration Request after a trigger (observed when missing, and the case ends)."""
    request = rig.registration_request()
    if request is None:
        ctx.observe("Registration Request", False, "no Registration Request", "a Registration Request to the NHS")
        ctx.stop()
    return request


@case(
    "NHC-01",
    clause="RFC 2332 §5.2.3, §5.2.0.1, §3",
    level="MUST",
    role="spoke",
    breakers=("reg-dst-zero", "bad-checksum"),
    requirement="The spoke's Registration Request goes straight to its NHS's NBMA address, with the spoke's own "
    "NBMA and protocol addresses as source, the NHS's (or its own) protocol address as destination and a valid "
    "checksum.",
    requires=NEEDS,
)
def test_registration_request_addressing(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    request = _requested(ctx, rig)
    view, info = request.nhrp, ctx.dut.info
    ctx.expect("sent to the NHS", request.outer_dst == rig.nhs_nbma, f"sent to {request.outer_dst}", f"sent to {rig.nhs_nbma}")
    source = (str(view.src_nbma), str(view.src_proto))
    ctx.expect("source addresses", source == (info.nbma, info.proto), f"source {source[0]}/{source[1]}", f"source {info.nbma}/{info.proto}")
    ctx.expect(
        "destination protocol address",
        str(view.dst_proto) in (rig.nhs_proto, info.proto),
        f"destination {view.dst_proto}",
        f"destination {rig.nhs_proto} (or {info.proto})",
    )
    ctx.expect("checksum", view.checksum_ok, "valid checksum" if view.checksum_ok else "bad checksum", "valid checksum")
    ctx.link.send(rig.registration_reply(request))


@case(
    "NHC-02",
    clause="RFC 2332 §5.2.3, §5.2.0.1",
    level="MUST",
    role="spoke",
    breakers=("unique-prefix-32", "zero-holding-time"),
    requirement="The spoke's Registration Request carries one or more CIEs with code 0 and a non-zero holding time; "
    "with the U bit set it carries exactly one CIE, of prefix length 0xFF.",
    requires=NEEDS,
)
def test_registration_request_cies(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    request = _requested(ctx, rig)
    view = request.nhrp
    cies = view.cies
    if not ctx.expect("CIEs", bool(cies), f"{len(cies)} CIEs", "one or more CIEs"):
        return
    codes = [c.code for c in cies]
    ctx.expect("CIE codes", all(c == 0 for c in codes), f"CIE codes {codes}", "CIE codes 0")
    times = [c.holding_time for c in cies]
    ctx.expect("holding time", all(times), f"CIE holding times {times}", "non-zero CIE holding times")
    if view.flags & C.RegistrationFlags.U:
        prefixes = [c.prefix_len for c in cies]
        ctx.expect(
            "U bit: one CIE of prefix length 0xFF",
            prefixes == [0xFF],
            f"U set with CIE prefix lengths {prefixes}",
            "U set with one CIE of prefix length 255",
        )
    else:
        ctx.note(f"U clear (flags {flag_words(view)}): the prefix-length rule for U does not apply")
    ctx.link.send(rig.registration_reply(request))


def _extension_words(raw: bytes) -> list[int]:
    """The 16-bit type words (C and u bits included) of the extensions, read from the raw packet."""
    pktsz, _chk, extoff = struct.unpack_from("!HHH", raw, 10)
    words, offset = [], extoff
    while extoff and offset + 4 <= pktsz:
        word, length = struct.unpack_from("!HH", raw, offset)
        words.append(word)
        offset += 4 + length
        if word & C.EXT_TYPE_MASK == C.ExtensionType.END:
            break
    return words


@case(
    "NHC-03",
    clause="RFC 2332 §5.3, §5.3.0, §5.3.1, §5.3.2, §5.3.3",
    level="MUST",
    role="spoke",
    breakers=("no-end-extension",),
    requirement="The extensions of the spoke's Registration Request are well formed: ended by the End extension, "
    "the u bit clear, no type twice (but Vendor-Private), the Responder Address, Forward and Reverse Transit "
    "extensions compulsory and sent empty by the requester.",
    requires=NEEDS,
)
def test_registration_request_extensions(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    request = _requested(ctx, rig)
    view = request.nhrp
    words = _extension_words(view.raw)
    if not words:
        ctx.observe("extensions", True, "no extensions", "none, or well-formed extensions")
        ctx.link.send(rig.registration_reply(request))
        return
    types = [w & C.EXT_TYPE_MASK for w in words]
    ctx.expect(
        "ended by End",
        types[-1] == C.ExtensionType.END and words[-1] & C.EXT_COMPULSORY,
        f"extension types {types}" + ("" if types[-1] != C.ExtensionType.END or words[-1] & C.EXT_COMPULSORY else ", End not compulsory"),
        "the last extension End (compulsory)",
    )
    u_set = [t for t, w in zip(types, words) if w & C.EXT_UNUSED]
    ctx.expect("u bit", not u_set, f"u bit set on types {u_set}" if u_set else "u bits clear", "u bits clear")
    twice = sorted(t for t, n in Counter(types).items() if n > 1 and t != C.ExtensionType.VENDOR_PRIVATE)
    ctx.expect("each type once", not twice, f"types {twice} more than once" if twice else "each type once", "each type once")
    problems = []
    for ext_type in (C.ExtensionType.RESPONDER_ADDRESS, C.ExtensionType.FORWARD_TRANSIT_NHS_RECORD, C.ExtensionType.REVERSE_TRANSIT_NHS_RECORD):
        for word, ext in zip(words, view.extensions):
            if ext.type != ext_type:
                continue
            if not word & C.EXT_COMPULSORY:
                problems.append(f"type {int(ext_type)} not compulsory")
            if ext.value:
                problems.append(f"type {int(ext_type)} not empty")
    ctx.expect(
        "Responder/Forward/Reverse placeholders",
        not problems,
        "; ".join(problems) if problems else "placeholders compulsory and empty",
        "placeholders compulsory and empty",
    )
    ctx.link.send(rig.registration_reply(request))


def _retry_words(first_reqid: int, again, window: float) -> tuple[bool, str]:
    if again is None:
        return False, f"no retransmission within {window:g} s"
    if again.nhrp.reqid == first_reqid:
        return True, "retransmitted with the same request ID"
    return False, "retransmitted with a new request ID"


@case(
    "NHC-04",
    clause="RFC 2332 §5.2.0.1, §5.2.3",
    level="MUST",
    role="spoke",
    breakers=("new-reqid-on-retransmit", "no-retransmit"),
    requirement="An unanswered Registration Request is sent again, with the same request ID.",
    requires=NEEDS,
)
def test_registration_retransmission_keeps_the_request_id(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    first = _requested(ctx, rig)
    found = rig.collect(rig.retry_window, (REG_REQ,), stop_after=1).nhrp(REG_REQ)
    again = found[0] if found else None
    ok, words = _retry_words(first.nhrp.reqid, again, rig.retry_window)
    ctx.observe("retransmission", ok, words, "a retransmission with the same request ID")
    ctx.link.send(rig.registration_reply(again or first))


@case(
    "NHC-05",
    clause="RFC 2332 §5.2.3, §5.2.0.1",
    level="MUST",
    role="spoke",
    breakers=("no-refresh",),
    requirement="After a successful registration the spoke registers again, with a new request ID, before the "
    "holding time it registered runs out (RFC 2332 recommends a third of it).",
    requires=NEEDS,
)
def test_registration_is_refreshed(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    request = rig.register()
    holding = max((c.holding_time for c in request.nhrp.cies), default=0) or ctx.dut.info.holding_time
    start = time.monotonic()
    same = 0

    def refreshed(left: float):
        """The next Registration Request with a new request ID (None: none, or a retransmission)."""
        nonlocal same
        found = rig.collect(left, (REG_REQ,), stop_after=1).nhrp(REG_REQ)
        if found and found[0].nhrp.reqid == request.nhrp.reqid:
            same += 1
            return None
        return found[0] if found else None

    refresh = ctx.wait_until(refreshed, lambda found: found is not None, holding, 0, time_left=True)  # bounded: the holding time
    if same:
        ctx.note(f"{same} retransmissions of the answered request")
    if refresh is None:
        ctx.observe("refresh", False, "no refresh within the holding time", "a refresh with a new request ID before the holding time ran out")
        return
    ctx.note(f"refresh {time.monotonic() - start:.1f} s after the reply (a third of the holding time: {holding / 3:.1f} s)")
    ctx.observe("refresh", True, "refresh with a new request ID before the holding time ran out", "a refresh with a new request ID before the holding time ran out")
    ctx.link.send(rig.registration_reply(refresh))


@case(
    "NHC-06",
    clause="DMVPN Phase 3 (reference §A.16: the egress answers over the spoke-to-spoke path); RFC 2332 §6.2.1",
    level="SHOULD",
    role="spoke",
    breakers=("reply-via-nhs", "bad-checksum"),
    requirement="The spoke answers a forwarded Resolution Request (S set, source holding time given) directly to "
    "the requester's NBMA address, not back through the NHS.",
    requires=SHORTCUT_NEEDS,
)
def test_reply_goes_directly_to_the_requester(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    rig.register()
    requester, target, reqid, packet, exchange = forwarded_exchange(ctx, rig)
    ctx.expect_reply(exchange, RES_REP, reqid=reqid, codes=[0], to=requester[0])


@case(
    "NHC-07",
    clause="RFC 2332 §5.2.0.1, §6.2.1",
    level="MUST",
    role="spoke",
    breakers=("ignore-holding-time",),
    requirement="A shortcut is discarded when its holding time expires unrenewed: afterwards data goes via the "
    "NHS again.",
    requires=SHORTCUT_NEEDS + ("send-data",),
)
def test_expired_shortcut_is_discarded(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    rig.register()
    holding = int(ctx.dut.info.extra.get("shortcut_holding_time", 10))
    peer, target = rig.peer(), rig.target()
    rig.shortcut_to(peer, target, holding_time=holding)
    if rig.wait_shortcut(target) is None:
        ctx.observe("shortcut installed", False, "no shortcut", "a shortcut to expire")
        return
    rig.collect(holding + max(ctx.quiet, 0.2), (RES_REQ,))  # renewals (if any) stay unanswered
    found = rig.shortcut_for(target)
    if found is not False:
        ctx.expect("shortcut discarded", not found, "shortcut kept after its holding time" if found else "shortcut gone", "shortcut gone")
    rig.expect_data_via_nhs(target, peer[0])
