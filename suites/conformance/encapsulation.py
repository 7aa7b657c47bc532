"""Encapsulation (GRE, RFC 2784 and RFC 2890; NHRP in GRE): the DUT as NHS, the suite as its spokes.

Checklist §D.1 (ENC-xx). Each case wraps a valid Registration Request in a GRE header that differs
in one point and checks that the DUT processes it (a Registration Reply) or discards it (silence,
and no binding). ENC-10 (cleartext where IPsec is required) needs tunnel protection: see esp.py.
"""

from __future__ import annotations

from dmvpn.conformance import CaseContext, case
from dmvpn.conformance.context import describe
from dmvpn.wire import constants as C

from ._hub import (
    expect_bound,
    gre,
    ipv4,
    nhrp_bytes,
    REG_REPLY,
    REG_REQ,
    Spoke,
    to,
)


def _registration_nhrp(ctx: CaseContext, spoke: Spoke) -> tuple[int, bytes]:
    reqid = ctx.dut.reqid_base()
    return reqid, nhrp_bytes(ctx.packet(REG_REQ, spoke, reqid))


def _outcome(ctx: CaseContext, spoke: Spoke, packet: bytes, reqid: int, window: float | None = None) -> str:
    """What became of one registration in a crafted GRE packet, in fixed words."""
    exchange = ctx.exchange(packet, window, accept=to(ctx, spoke.nbma), stop_after=1)
    replies = exchange.nhrp()
    if not replies:
        broken = exchange.unparsable()
        return "malformed answer" if broken else "silent discard"
    view = replies[0].nhrp
    if view.op_type == REG_REPLY and view.reqid == reqid and view.checksum_ok and [c.code for c in view.cies] == [0]:
        return "processed"
    return describe(replies[0])


def _expect_processed(ctx: CaseContext, label: str, spoke: Spoke, build) -> None:
    reqid, nhrp = _registration_nhrp(ctx, spoke)
    outcome = _outcome(ctx, spoke, build(nhrp), reqid)
    ctx.expect(label, outcome == "processed", f"{label}: {outcome}", f"{label}: processed")


def _expect_discarded(ctx: CaseContext, label: str, spoke: Spoke, build) -> None:
    reqid, nhrp = _registration_nhrp(ctx, spoke)
    outcome = _outcome(ctx, spoke, build(nhrp), reqid, window=ctx.quiet)
    ctx.expect(label, outcome == "silent discard", f"{label}: {outcome}", f"{label}: silent discard")


@case(
    "ENC-01",
    clause="RFC 2784 §2, §2.4; RFC 2890 §2",
    level="MUST",
    role="hub",
    breakers=("silent", "wrong-reqid"),
    requirement="A Registration Request carried in GRE with protocol type 0x2001 and the tunnel's key is "
    "processed, and the Registration Reply comes back in GRE with the same protocol type and key.",
)
def test_nhrp_in_gre_is_processed(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    reqid, nhrp = _registration_nhrp(ctx, spoke)
    exchange = ctx.exchange(gre(ctx, spoke.nbma, nhrp), accept=to(ctx, spoke.nbma), stop_after=1)
    ctx.expect_reply(exchange, REG_REPLY, reqid=reqid, codes=[0], to=spoke.nbma, required=True)
    reply = exchange.nhrp()[0]
    key = ctx.dut.info.gre_key
    ctx.expect(
        "GRE of the reply",
        reply.gre_proto == C.GRE_PROTO_NHRP and reply.gre_key == key,
        f"GRE protocol 0x{reply.gre_proto:04x}, " + ("no key" if reply.gre_key is None else "the tunnel's key" if reply.gre_key == key else "another key"),
        "GRE protocol 0x2001, " + ("no key" if key is None else "the tunnel's key"),
    )


@case(
    "ENC-02",
    clause="RFC 2890 §2.1",
    level="SHOULD",
    role="hub",
    breakers=("ignore-gre-key",),
    requirement="The GRE key identifies the tunnel: a Registration Request with another key, or without the "
    "key the tunnel is configured with, is not processed by that tunnel's NHS.",
)
def test_wrong_gre_key_is_not_processed(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    key = ctx.dut.info.gre_key
    if key is None:
        _expect_discarded(ctx, "key 1 on a keyless tunnel", spoke, lambda nhrp: gre(ctx, spoke.nbma, nhrp, key=1))
    else:
        _expect_discarded(ctx, "another key", spoke, lambda nhrp: gre(ctx, spoke.nbma, nhrp, key=(key + 1) & 0xFFFFFFFF))
        _expect_discarded(ctx, "no key", spoke, lambda nhrp: gre(ctx, spoke.nbma, nhrp, key=None))
    expect_bound(ctx, "not registered", spoke.proto, False)


@case(
    "ENC-03",
    clause="RFC 2784 §2.2, §2.5",
    level="MUST",
    role="hub",
    breakers=("reject-gre-checksum", "silent", "wrong-reqid"),
    requirement="A GRE packet with the Checksum Present bit set and a correct checksum is accepted and "
    "processed (\"a compliant implementation MUST accept and process this field\").",
)
def test_gre_checksum_is_accepted(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    _expect_processed(ctx, "GRE checksum present and correct", spoke, lambda nhrp: gre(ctx, spoke.nbma, nhrp, checksum="auto"))


@case(
    "ENC-04",
    clause="RFC 2784 §2.2, §2.5",
    level="MUST",
    role="hub",
    breakers=("ignore-gre-checksum", "crash-on-malformed"),
    requirement="A GRE packet whose checksum (present, C=1) does not verify is discarded.",
    malformed=True,
)
def test_bad_gre_checksum_is_discarded(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())

    def build(nhrp: bytes) -> bytes:
        good = gre(ctx, spoke.nbma, nhrp, checksum="auto")
        checksum = int.from_bytes(good[24:26], "big")
        return gre(ctx, spoke.nbma, nhrp, checksum=checksum ^ 0x5A5A)

    _expect_discarded(ctx, "wrong GRE checksum", spoke, build)
    expect_bound(ctx, "not registered", spoke.proto, False)


@case(
    "ENC-05",
    clause="RFC 2784 §2.3",
    level="MUST",
    role="hub",
    breakers=("ignore-gre-reserved", "crash-on-malformed"),
    requirement="A GRE packet with a non-zero bit among Reserved0 bits 1-5 (here bit 1, RFC 1701's Routing "
    "Present, with no routing information) is discarded.",
    malformed=True,
)
def test_gre_reserved_bit_1_is_discarded(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    _expect_discarded(ctx, "GRE bit 1 (routing) set", spoke, lambda nhrp: gre(ctx, spoke.nbma, nhrp, flags=0x4000))
    expect_bound(ctx, "not registered", spoke.proto, False)


@case(
    "ENC-06",
    clause="RFC 2784 §2.3",
    level="MUST",
    role="hub",
    breakers=("strict-gre-reserved", "silent", "wrong-reqid"),
    requirement="GRE Reserved0 bits 6-12 are ignored on receipt: a packet with them set is processed.",
)
def test_gre_reserved_bits_6_to_12_are_ignored(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    _expect_processed(ctx, "GRE bits 6-8 set", spoke, lambda nhrp: gre(ctx, spoke.nbma, nhrp, flags=0x0380))
    _expect_processed(ctx, "GRE bits 9-12 set", spoke, lambda nhrp: gre(ctx, spoke.nbma, nhrp, flags=0x0078))


@case(
    "ENC-07",
    clause="RFC 2784 §2.3.1",
    level="MUST",
    role="hub",
    breakers=("ignore-gre-version", "crash-on-malformed"),
    requirement="The GRE Version Number MUST be zero: packets with version 1 or 7 are not processed as "
    "NHRP in GRE.",
    malformed=True,
)
def test_gre_version_other_than_0_is_discarded(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    for version in (1, 7):
        _expect_discarded(ctx, f"GRE version {version}", spoke, lambda nhrp, v=version: gre(ctx, spoke.nbma, nhrp, version=v))
    expect_bound(ctx, "not registered", spoke.proto, False)


@case(
    "ENC-08",
    clause="RFC 2890 §2, §2.2",
    level="MUST",
    role="hub",
    breakers=("crash-on-gre-sequence", "wrong-reqid"),
    requirement="A GRE packet carrying a sequence number (S=1) is processed, or discarded by a tunnel not "
    "configured for sequencing; the sequence number is never read as NHRP, and the DUT stays alive.",
    malformed=True,
)
def test_gre_sequence_number(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    reqid, nhrp = _registration_nhrp(ctx, spoke)
    outcome = _outcome(ctx, spoke, gre(ctx, spoke.nbma, nhrp, seq=1), reqid)
    ctx.expect("sequence number 1", outcome in ("processed", "silent discard"), f"sequence number present: {outcome}", "sequence number present: processed or silent discard")


@case(
    "ENC-09",
    clause="RFC 2332 §5; RFC 2784 §2.4",
    level="SHOULD",
    role="hub",
    breakers=("accept-narp", "crash-on-malformed"),
    requirement="NHRP carried directly in IP (protocol 54) rather than in the DMVPN's GRE is not processed: "
    "no reply and no registration.",
)
def test_nhrp_in_ip_is_not_processed(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    reqid, nhrp = _registration_nhrp(ctx, spoke)
    outcome = _outcome(ctx, spoke, ipv4(spoke.nbma, ctx.dut.info.nbma, nhrp, C.IPPROTO_NARP), reqid, window=ctx.quiet)
    ctx.expect("IP protocol 54", outcome == "silent discard", f"NHRP in IP protocol 54: {outcome}", "NHRP in IP protocol 54: silent discard")
    expect_bound(ctx, "not registered", spoke.proto, False)
