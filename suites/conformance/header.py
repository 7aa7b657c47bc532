"""Fixed header and length validation (RFC 2332 §5.1, §5.2.0.1, §5.3): the DUT as NHS.

Checklist §D.2 (HDR-xx). Each case mutates one field of a valid Registration Request (the checksum
recomputed unless the checksum is the point) and checks that the DUT discards it, or reports it with
an Error Indication code 7, and is still alive afterwards.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from dmvpn.conformance import CaseContext, case
from dmvpn.wire import constants as C
from dmvpn.wire.checksum import inet_checksum
from dmvpn.wire.fastparse import parse_ipv4_gre
from dmvpn.wire.templates import encode_ipv4_gre

REG_REQ = C.PacketType.REGISTRATION_REQUEST

REPLY = C.PacketType.REGISTRATION_REPLY
PROTOCOL_ERROR = (C.ErrorCode.PROTOCOL_ERROR,)


def _valid(ctx: CaseContext, **kwargs) -> tuple[str, str, int, bytes]:
    """(nbma, proto, reqid, NHRP bytes) of a fresh valid registration."""
    nbma, proto = ctx.identity()
    reqid = ctx.dut.reqid_base()
    packet = ctx.packet(REG_REQ, (nbma, proto), reqid, **kwargs)
    return nbma, proto, reqid, parse_ipv4_gre(packet).payload


def _send_nhrp(ctx: CaseContext, nbma: str, nhrp: bytes, fix_checksum: bool = True, window: float | None = None):
    data = bytearray(nhrp)
    if fix_checksum and len(data) >= 20:
        size = min(struct.unpack_from("!H", data, 10)[0], len(data))
        data[12:14] = b"\0\0"
        data[12:14] = struct.pack("!H", inet_checksum(bytes(data[:size])))
    info = ctx.dut.info
    packet = encode_ipv4_gre(bytes(data), src=nbma, dst=info.nbma, key=info.gre_key)
    return ctx.exchange(packet, window=window or max(ctx.quiet, ctx.window))


def _patch(nhrp: bytes, offset: int, fmt: str, value: int) -> bytes:
    data = bytearray(nhrp)
    struct.pack_into(fmt, data, offset, value)
    return bytes(data)


def _expect_discarded(ctx: CaseContext, nbma: str, proto: str, mutate: Callable[[bytes], bytes], fix_checksum: bool = True) -> None:
    good = _valid_bytes(ctx, nbma, proto)
    ctx.expect_silence(_send_nhrp(ctx, nbma, mutate(good), fix_checksum), allowed_errors=PROTOCOL_ERROR)


def _valid_bytes(ctx: CaseContext, nbma: str, proto: str, **kwargs) -> bytes:
    return parse_ipv4_gre(ctx.packet(REG_REQ, (nbma, proto), ctx.dut.reqid_base(), **kwargs)).payload


def _expect_processed(ctx: CaseContext, nbma: str, mutated: bytes, reqid: int, fix_checksum: bool = True) -> None:
    exchange = _send_nhrp(ctx, nbma, mutated, fix_checksum, window=ctx.window)
    ctx.expect_reply(exchange, REPLY, reqid=reqid, codes=[0])


@case(
    "HDR-01",
    clause="RFC 2332 §5.1 (ar$chksum), §5.2.7",
    level="MUST",
    role="hub",
    breakers=("ignore-checksum", "crash-on-malformed", "answer-anything"),
    requirement="A packet with a wrong checksum is discarded (an Error Indication code 7, Protocol Error, is "
    "allowed).",
    malformed=True,
)
def test_bad_checksum_is_discarded(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    _expect_discarded(ctx, nbma, proto, lambda b: _patch(b, 12, "!H", struct.unpack_from("!H", b, 12)[0] ^ 0x5A5A), fix_checksum=False)


@case(
    "HDR-02",
    clause="RFC 2332 §5.1 (ar$chksum)",
    level="MUST",
    role="hub",
    breakers=("silent",),
    requirement="An odd-length packet whose checksum is computed with a zero pad byte is accepted.",
)
def test_odd_length_packet_is_accepted(ctx: CaseContext) -> None:
    from dmvpn.wire import templates as T

    nbma, proto = ctx.identity()
    reqid = ctx.dut.reqid_base()
    for pad in (b"\x01", b"\x01\x02"):  # one byte more when the DUT's password makes it even
        packet = ctx.packet(REG_REQ, (nbma, proto), reqid, extensions=ctx.extensions(T.Extension(0x0100, pad, False), transit=False))
        nhrp = parse_ipv4_gre(packet).payload
        if len(nhrp) % 2:
            break
    ctx.expect("odd length", len(nhrp) % 2 == 1, "odd length" if len(nhrp) % 2 else "even length", "odd length")
    _expect_processed(ctx, nbma, nhrp, reqid, fix_checksum=False)


def _discard_case(case_id: str, clause: str, requirement: str, *mutations: Callable[[bytes], bytes], breakers: tuple[str, ...], level: str = "MUST"):
    """A case that sends each mutation of a valid registration (fresh identity each) and expects discards."""

    @case(case_id, clause=clause, level=level, role="hub", requirement=requirement, breakers=breakers, malformed=True)
    def check(ctx: CaseContext) -> None:
        for mutate in mutations:
            nbma, proto = ctx.identity()
            _expect_discarded(ctx, nbma, proto, mutate)
            ctx.expect_binding(proto, present=False)

    check.__name__ = f"test_{case_id.lower().replace('-', '_')}"
    return check


test_hdr_03 = _discard_case(
    "HDR-03", "RFC 2332 §5.1 (ar$op.version), §5.2.7",
    "A packet with ar$op.version 2 (not NHRP as RFC 2332 defines it) is discarded or answered with Error "
    "Indication 7.",
    lambda b: _patch(b, 16, "!B", 2),
    breakers=("no-header-checks", "answer-anything", "crash-on-malformed"),
)
test_hdr_04 = _discard_case(
    "HDR-04", "RFC 2332 §5.1 (ar$op.type)",
    "Packets of undefined types (ar$op.type 9, 128 and 0) are discarded.",
    lambda b: _patch(b, 17, "!B", 9),
    lambda b: _patch(b, 17, "!B", 128),
    lambda b: _patch(b, 17, "!B", 0),
    breakers=("answer-anything", "crash-on-malformed"),
)
test_hdr_05 = _discard_case(
    "HDR-05", "RFC 2332 §5.1 (ar$afn)",
    "A packet whose NBMA address family (ar$afn 0x000F) does not match the 4-byte NBMA address is discarded.",
    lambda b: _patch(b, 0, "!H", 0x000F),
    breakers=("no-header-checks", "answer-anything", "crash-on-malformed"),
)
test_hdr_06 = _discard_case(
    "HDR-06", "RFC 2332 §5.1 (ar$pro.type)",
    "A packet whose protocol type is the NLPID form of IP (0x00CC), which the RFC's short Ethertype rule "
    "excludes, is not processed as IPv4.",
    lambda b: _patch(b, 2, "!H", 0x00CC),
    level="SHOULD",    breakers=("no-header-checks", "answer-anything", "crash-on-malformed"),
)


@case(
    "HDR-07",
    clause="RFC 2332 §5.1 (ar$pro.snap)",
    level="MUST",
    role="hub",
    breakers=("silent",),
    requirement="A non-zero ar$pro.snap with the short protocol form is ignored on receipt: the packet is "
    "processed.",
)
def test_snap_is_ignored(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    reqid = ctx.dut.reqid_base()
    nhrp = parse_ipv4_gre(ctx.packet(REG_REQ, (nbma, proto), reqid)).payload
    data = bytearray(nhrp)
    data[4:9] = b"\x00\x00\x0c\x08\x00"
    _expect_processed(ctx, nbma, bytes(data), reqid)


test_hdr_08 = _discard_case(
    "HDR-08", "RFC 2332 §5.1 (ar$pktsz)",
    "A packet whose ar$pktsz is larger than what arrived is discarded.",
    lambda b: _patch(b, 10, "!H", len(b) + 40),
    breakers=("answer-anything", "crash-on-malformed"),
)
test_hdr_09 = _discard_case(
    "HDR-09", "RFC 2332 §5.1 (ar$pktsz)",
    "A packet whose ar$pktsz is smaller than the fixed header is discarded.",
    lambda b: _patch(b, 10, "!H", 12),
    breakers=("answer-anything", "crash-on-malformed"),
)


@case(
    "HDR-10",
    clause="RFC 2332 §5.1 (ar$pktsz, ar$chksum)",
    level="SHOULD",
    role="hub",
    breakers=("silent",),
    requirement="Bytes after ar$pktsz (a longer GRE payload) are not part of the NHRP packet: the first "
    "ar$pktsz bytes are processed.",
)
def test_trailing_bytes_are_ignored(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    reqid = ctx.dut.reqid_base()
    nhrp = parse_ipv4_gre(ctx.packet(REG_REQ, (nbma, proto), reqid)).payload
    _expect_processed(ctx, nbma, nhrp + b"\xa5\x5a\x01\x02", reqid, fix_checksum=False)


test_hdr_11 = _discard_case(
    "HDR-11", "RFC 2332 §5.1 (ar$extoff)",
    "A packet whose ar$extoff points past ar$pktsz is discarded or answered with Error Indication 7.",
    lambda b: _patch(b, 14, "!H", len(b) + 8),
    breakers=("answer-anything", "crash-on-malformed"),
)
test_hdr_12 = _discard_case(
    "HDR-12", "RFC 2332 §5.1 (ar$extoff)",
    "A packet whose ar$extoff points inside the common header is discarded or answered with Error "
    "Indication 7.",
    lambda b: _patch(b, 14, "!H", 24),
    breakers=("answer-anything", "crash-on-malformed"),
)
test_hdr_14 = _discard_case(
    "HDR-14", "RFC 2332 §5.1 (ar$shtl)",
    "A packet whose ar$shtl gives a 6-byte NBMA address for an IPv4 NBMA family is discarded.",
    lambda b: _patch(b, 18, "!B", 6),
    breakers=("answer-anything", "crash-on-malformed"),
)
test_hdr_16 = _discard_case(
    "HDR-16", "RFC 2332 §5.1 (ar$sstl)",
    "A packet that claims a 4-byte NBMA subaddress the IPv4 NBMA family does not have is discarded.",
    lambda b: _patch(b, 19, "!B", 4),
    breakers=("answer-anything", "crash-on-malformed"),
)
test_hdr_17 = _discard_case(
    "HDR-17", "RFC 2332 §5.2.0.1",
    "A packet whose source protocol length (16) does not match its protocol type (IPv4) is discarded.",
    lambda b: _patch(b, 20, "!B", 16),
    breakers=("answer-anything", "crash-on-malformed"),
)
test_hdr_18 = _discard_case(
    "HDR-18", "RFC 2332 §5.2.0.1",
    "A packet cut short inside its addresses (ar$pktsz adjusted) is discarded.",
    lambda b: _patch(b[:34], 10, "!H", 34),
    breakers=("answer-anything", "crash-on-malformed"),
)
test_hdr_19 = _discard_case(
    "HDR-19", "RFC 2332 §5.2.0.1",
    "A CIE whose client protocol length overruns the mandatory part is discarded.",
    lambda b: _patch(b, 40 + 10, "!B", 200),  # the first CIE starts at 40; +10 is its protocol length
    breakers=("answer-anything", "crash-on-malformed"),
)


@case(
    "HDR-13",
    clause="RFC 2332 §5.1 (ar$extoff)",
    level="MUST",
    role="hub",
    breakers=("crash-on-malformed",),
    requirement="With ar$extoff 0 the extensions' bytes are read as mandatory part (CIEs); whatever the DUT "
    "makes of them, it stays alive.",
    malformed=True,
)
def test_extensions_without_extoff(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    nhrp = _valid_bytes(ctx, nbma, proto)
    exchange = _send_nhrp(ctx, nbma, _patch(nhrp, 14, "!H", 0))
    answers = exchange.nhrp()
    ctx.note("answered with: " + (", ".join(f"type {p.nhrp.op_type}" for p in answers) or "nothing"))
    # The requirement is survival, which the robustness probe after every malformed case checks.


@case(
    "HDR-15",
    clause="RFC 2332 §5.1 (ar$shtl)",
    level="MUST",
    role="hub",
    breakers=("answer-anything", "crash-on-malformed", "no-header-checks"),
    requirement="The reserved bit of ar$shtl MUST be zero; a packet with it set (0x84) is not processed as a "
    "4-byte NBMA address.",
    malformed=True,
)
def test_shtl_reserved_bit(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    nhrp = _valid_bytes(ctx, nbma, proto)
    ctx.expect_silence(_send_nhrp(ctx, nbma, _patch(nhrp, 18, "!B", 0x84)), allowed_errors=PROTOCOL_ERROR)


@case(
    "HDR-20",
    clause="RFC 2332 §5.1 (ar$hopcnt)",
    level="MUST",
    role="hub",
    breakers=("silent",),
    requirement="The hop count matters only when a packet is forwarded: a Registration Request with hop "
    "count 0 addressed to the DUT itself is processed.",
)
def test_hop_zero_to_the_dut_is_processed(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    reqid = ctx.dut.reqid_base()
    nhrp = parse_ipv4_gre(ctx.packet(REG_REQ, (nbma, proto), reqid, hopcnt=0)).payload
    _expect_processed(ctx, nbma, nhrp, reqid, fix_checksum=False)
