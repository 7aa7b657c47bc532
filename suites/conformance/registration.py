"""Registration (RFC 2332 §5.2.3, §5.2.4, §5.3): the DUT as NHS, the suite as its spokes.

Checklist §D.3 of the reference (REG-xx). Each case is one requirement; the words after `requirement=`
are what the report prints.
"""

from __future__ import annotations

from dmvpn.conformance import CaseContext, case
from dmvpn.conformance.context import describe
from dmvpn.wire import constants as C
from dmvpn.wire import templates as T
from dmvpn.wire.fastparse import parse_ipv4_gre

REPLY = C.PacketType.REGISTRATION_REPLY


def _register(ctx: CaseContext, nbma: str, proto: str, **kwargs):
    reqid = ctx.dut.reqid_base()
    exchange = ctx.ask(ctx.registration(nbma, proto, reqid, **kwargs).packet)
    return reqid, exchange


@case(
    "REG-01",
    clause="RFC 2332 §5.2.4, §5.3, §5.3.1",
    level="MUST",
    role="hub",
    breakers=("silent", "wrong-reqid", "bad-checksum", "wrong-type", "no-responder-address", "drop-extensions"),
    requirement="A Registration Request is answered by a Registration Reply sent to the requester, with the "
    "same request ID, the source fields unchanged, CIE code 0, the Responder Address extension naming the "
    "NHS and the other extensions echoed in order.",
)
def test_registration_is_answered(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    reqid, exchange = _register(ctx, nbma, proto)
    reply = ctx.expect_reply(exchange, REPLY, reqid=reqid, codes=[0], to=nbma)
    if reply is None:
        return
    same = (str(reply.src_nbma), str(reply.src_proto)) == (nbma, proto)
    ctx.expect("source fields", same, "source fields unchanged" if same else "source fields changed", "source fields unchanged")
    ctx.expect("U flag echoed", bool(reply.flags & C.RegistrationFlags.U), f"flags 0x{reply.flags:04x}", "U echoed")
    responder = reply.extension(C.ExtensionType.RESPONDER_ADDRESS)
    named = responder is not None and responder.cies and str(responder.cies[0].client_nbma) == ctx.dut.info.nbma
    ctx.expect(
        "Responder Address",
        bool(named),
        "no Responder Address" if responder is None else f"Responder Address {[str(c.client_nbma) for c in responder.cies or []]}",
        f"Responder Address naming {ctx.dut.info.nbma}",
    )
    sent = _sent_extension_types(ctx)
    got = [e.type for e in reply.extensions]
    ctx.expect("extensions echoed in order", got == sent, f"extension types {got}", f"extension types {sent}")
    ctx.expect_binding(proto, nbma)


def _sent_extension_types(ctx: CaseContext) -> list[int]:
    """The extension types `ctx.registration` sends (Cisco's set), in order."""
    return [e.type for e in parse_ipv4_gre(ctx.registration("192.0.2.200", "10.255.0.200", 1).packet).nhrp.extensions]


@case(
    "REG-02",
    clause="RFC 2332 §5.2.0.1, §5.2.3",
    level="MUST",
    role="hub",
    breakers=("silent", "wrong-reqid"),
    requirement="A CIE that carries its own client NBMA and protocol addresses registers those addresses.",
)
def test_cie_addresses_are_registered(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    reqid = ctx.dut.reqid_base()
    cie = T.Cie(prefix_len=32, mtu=1400, holding_time=ctx.dut.info.holding_time, client_nbma=nbma, client_proto=proto)
    info = ctx.dut.info
    packet = T.NhrpTemplate.compile(
        C.PacketType.REGISTRATION_REQUEST, outer_src=nbma, outer_dst=info.nbma, gre_key=info.gre_key, hopcnt=1,
        src_nbma=nbma, src_proto=proto, dst_proto=info.proto, flags=0x8002, reqid=reqid, cies=[cie],
        extensions=[T.responder_address(), T.forward_transit(), T.reverse_transit(), T.end()],
    ).packet
    reply = ctx.expect_reply(ctx.ask(packet), REPLY, reqid=reqid, codes=[0], to=nbma)
    if reply is not None:
        ctx.expect_binding(proto, nbma)


@case(
    "REG-03",
    clause="RFC 2332 §5.2.3",
    level="SHOULD",
    role="hub",
    breakers=("wrong-reqid",),
    requirement="A refresh (a new request ID for the same binding, as an NHC sends at a third of the holding "
    "time) succeeds and keeps the binding.",
)
def test_refresh_succeeds(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    first, exchange = _register(ctx, nbma, proto)
    if ctx.expect_reply(exchange, REPLY, reqid=first, codes=[0]) is None:
        return
    second, exchange = _register(ctx, nbma, proto)
    ctx.expect_reply(exchange, REPLY, reqid=second, codes=[0])


@case(
    "REG-04",
    clause="RFC 2332 §5.2.0.1",
    level="MUST",
    role="hub",
    breakers=("silent", "bad-checksum"),
    requirement="A retransmitted request (same request ID, same content) is answered again or ignored, never "
    "refused.",
)
def test_retransmission_is_not_refused(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    reqid = ctx.dut.reqid_base()
    packet = ctx.registration(nbma, proto, reqid).packet
    exchange = ctx.exchange([packet, packet], window=ctx.window)
    if ctx.expect_reply(exchange, REPLY, reqid=reqid, codes=[0]) is None:
        return
    later = exchange.nhrp()[1:]
    refused = [p for p in later if p.nhrp.op_type != REPLY or [c.code for c in p.nhrp.cies] != [0] or not p.nhrp.checksum_ok]
    ctx.expect(
        "the retransmission",
        not refused,
        describe(refused[0]) if refused else "further replies codes [0]",
        "another Registration Reply codes [0], or nothing",
    )


@case(
    "REG-07",
    clause="RFC 2332 §5.2.3, §5.2.4",
    level="MUST",
    role="hub",
    breakers=("accept-unique-conflict",),
    requirement="A unique registration of an address already uniquely registered from another NBMA address "
    "gets CIE code 14 and the first binding stays.",
)
def test_unique_conflict_is_refused(ctx: CaseContext) -> None:
    first_nbma, proto = ctx.identity()
    second_nbma = ctx.dut.info.nat_nbma[0] if ctx.dut.info.nat_nbma else ctx.identity()[0]
    reqid, exchange = _register(ctx, first_nbma, proto)
    if ctx.expect_reply(exchange, REPLY, reqid=reqid, codes=[0]) is None:
        return
    reqid, exchange = _register(ctx, second_nbma, proto, src_nbma=second_nbma)
    ctx.expect_reply(exchange, REPLY, reqid=reqid, codes=[C.CieCode.UNIQUE_ADDRESS_ALREADY_REGISTERED])
    ctx.expect_binding(proto, first_nbma)


@case(
    "REG-08",
    clause="RFC 2332 §5.2.3",
    level="MUST",
    role="hub",
    breakers=("unique-always",),
    requirement="Without the U bit, a registration of an address from another NBMA address is accepted.",
)
def test_non_unique_reregistration_is_accepted(ctx: CaseContext) -> None:
    first_nbma, proto = ctx.identity()
    second_nbma = ctx.identity()[0]
    reqid, exchange = _register(ctx, first_nbma, proto, flags=C.RegistrationFlags.NAT)
    if ctx.expect_reply(exchange, REPLY, reqid=reqid, codes=[0]) is None:
        return
    reqid, exchange = _register(ctx, second_nbma, proto, src_nbma=second_nbma, flags=C.RegistrationFlags.NAT)
    ctx.expect_reply(exchange, REPLY, reqid=reqid, codes=[0])


@case(
    "REG-09",
    clause="RFC 2332 §5.2.3",
    level="MUST",
    role="hub",
    breakers=("ignore-uniqueness-prefix", "silent"),
    requirement="A unique registration (U set) whose CIE prefix length is not that of a host is refused "
    "(with U set the prefix length MUST be 0xFF).",
)
def test_unique_with_subnet_prefix_is_refused(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    reqid, exchange = _register(ctx, nbma, proto, prefix_len=24)
    # RFC 2332 §5.2.4: a request the NHS does not accept is answered with a NAK (a non-zero CIE
    # code); silence is not the refusal the clause asks for.
    reply = ctx.expect_reply(exchange, REPLY, reqid=reqid)
    if reply is not None:
        codes = [c.code for c in reply.cies]
        refused = bool(codes) and codes[0] != 0
        ctx.expect("subnet with U", refused, f"Registration Reply codes {codes}", "Registration Reply with a non-zero CIE code")
    ctx.expect_binding(proto, present=False)


@case(
    "REG-11",
    clause="RFC 2332 §5.2.3, §5.2.4",
    level="MUST",
    role="hub",
    breakers=("first-cie-only",),
    requirement="A request with two CIEs for two protocol addresses (no U) gets one code per CIE and both "
    "bindings are registered.",
)
def test_two_cies(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    _, proto2 = ctx.identity()
    info = ctx.dut.info
    reqid = ctx.dut.reqid_base()
    cies = [
        T.Cie(prefix_len=32, mtu=1400, holding_time=info.holding_time, client_nbma=nbma, client_proto=proto),
        T.Cie(prefix_len=32, mtu=1400, holding_time=info.holding_time, client_nbma=nbma, client_proto=proto2),
    ]
    packet = T.NhrpTemplate.compile(
        C.PacketType.REGISTRATION_REQUEST, outer_src=nbma, outer_dst=info.nbma, gre_key=info.gre_key, hopcnt=1,
        src_nbma=nbma, src_proto=proto, dst_proto=info.proto, flags=C.RegistrationFlags.NAT, reqid=reqid, cies=cies,
        extensions=[T.responder_address(), T.forward_transit(), T.reverse_transit(), T.end()],
    ).packet
    reply = ctx.expect_reply(ctx.ask(packet), REPLY, reqid=reqid, codes=[0, 0])
    if reply is not None:
        ctx.expect_binding(proto, nbma)
        ctx.expect_binding(proto2, nbma)


@case(
    "REG-12",
    clause="RFC 2332 §5.2.3",
    level="MUST",
    role="hub",
    breakers=("accept-empty-registration",),
    requirement="A Registration Request without any CIE (one or more are required) does not succeed.",
    malformed=True,
)
def test_no_cie_is_not_a_registration(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    info = ctx.dut.info
    reqid = ctx.dut.reqid_base()
    packet = T.NhrpTemplate.compile(
        C.PacketType.REGISTRATION_REQUEST, outer_src=nbma, outer_dst=info.nbma, gre_key=info.gre_key, hopcnt=1,
        src_nbma=nbma, src_proto=proto, dst_proto=info.proto, flags=0x8002, reqid=reqid, cies=[],
        extensions=[T.responder_address(), T.end()],
    ).packet
    exchange = ctx.ask(packet)
    succeeded = [p for p in exchange.nhrp(REPLY) if any(c.code == 0 for c in p.nhrp.cies)]
    answers = exchange.nhrp()
    observed = "no reply" if not answers else f"{len(answers[0].nhrp.cies)} CIEs in a {answers[0].nhrp.op_type} reply"
    ctx.expect("no success", not succeeded, observed, "no success (discard, NAK or Error Indication)")


@case(
    "REG-18",
    clause="RFC 2332 §5.2.7, §5.3",
    level="MUST",
    role="hub",
    breakers=("echo-unknown-compulsory",),
    requirement="A request with an unknown compulsory extension gets Error Indication code 1 (Unrecognized "
    "Extension) and is not processed.",
)
def test_unknown_compulsory_extension(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    unknown = T.Extension(0x0100, b"\x00\x00\x00\x00", compulsory=True)
    reqid, exchange = _register(ctx, nbma, proto, extensions=[T.responder_address(), unknown, T.end()])
    ctx.expect_error_indication(exchange, C.ErrorCode.UNRECOGNIZED_EXTENSION)
    ctx.expect_binding(proto, present=False)


@case(
    "REG-19",
    clause="RFC 2332 §5.3",
    level="MUST",
    role="hub",
    breakers=("drop-extensions",),
    requirement="An unknown non-compulsory extension is ignored and returned unchanged in the reply.",
)
def test_unknown_optional_extension_is_returned(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    unknown = T.Extension(0x0100, b"\xde\xad\xbe\xef", compulsory=False)
    reqid, exchange = _register(ctx, nbma, proto, extensions=[T.responder_address(), unknown, T.end()])
    reply = ctx.expect_reply(exchange, REPLY, reqid=reqid, codes=[0])
    if reply is not None:
        echoed = reply.extension(0x0100)
        ctx.expect(
            "returned unchanged",
            echoed is not None and echoed.value == unknown.value and not echoed.compulsory,
            "missing" if echoed is None else f"type 0x0100 value {echoed.value.hex()} C={int(echoed.compulsory)}",
            "type 0x0100 value deadbeef C=0",
        )


@case(
    "REG-20",
    clause="RFC 2332 §5.3.5",
    level="MUST",
    role="hub",
    breakers=("drop-extensions",),
    requirement="Vendor-Private extensions (the one type that may repeat) are all copied to the reply.",
)
def test_vendor_private_extensions_are_copied(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    vendor = [T.vendor_private(0x00000C, b"\x01"), T.vendor_private(0x00000C, b"\x02")]
    reqid, exchange = _register(ctx, nbma, proto, extensions=[T.responder_address(), *vendor, T.end()])
    reply = ctx.expect_reply(exchange, REPLY, reqid=reqid, codes=[0])
    if reply is not None:
        got = [e.value.hex() for e in reply.extensions if e.type == C.ExtensionType.VENDOR_PRIVATE]
        want = [v.value.hex() for v in vendor]
        ctx.expect("copied", got == want, f"vendor-private {got}", f"vendor-private {want}")


@case(
    "REG-25",
    clause="RFC 2332 §5.2.7",
    level="MUST",
    role="hub",
    breakers=("error-on-error",),
    requirement="An Error Indication sent to the DUT is never answered with an Error Indication.",
    malformed=True,
)
def test_no_error_about_an_error(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    info = ctx.dut.info
    offending = parse_ipv4_gre(ctx.registration(nbma, proto, 7).packet).payload
    packet = T.error_indication(
        C.ErrorCode.PROTOCOL_ERROR, 12, payload=offending, outer_src=nbma, outer_dst=info.nbma,
        src_nbma=nbma, src_proto=proto, dst_proto=info.proto, gre_key=info.gre_key, hopcnt=0,
        extensions=[T.forward_transit(), T.end()],
    ).packet
    ctx.expect_silence(ctx.exchange(packet, window=ctx.quiet))
