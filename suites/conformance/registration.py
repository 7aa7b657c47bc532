"""Registration (RFC 2332 §5.2.3, §5.2.4, §5.3): the DUT as NHS, the suite as its spokes.

Checklist §D.3 of the reference (REG-xx). Each case is one requirement; the words after `requirement=`
are what the report prints.

Registration, continued (RFC 2332 §5.2.0.1, §5.2.3, §5.2.4, §5.3): holding times, subnets,
forwarding, authentication and malformed extension lists. The DUT as NHS.

Checklist §D.3: REG-05, -06, -10, -13, -14..17 (authentication: only for a DUT configured with a
password, `ctx.dut.info.password`; REG-28 too), -21..24. REG-26/27 are performance measurements.
"""

from __future__ import annotations

import struct

from dmvpn.conformance import CaseContext, case
from dmvpn.conformance.context import describe
from dmvpn.wire import constants as C, templates as T
from dmvpn.wire.fastparse import parse_ipv4_gre
from dmvpn.wire.templates import encode_ipv4_gre

from ._hub import (
    bound,
    ERROR,
    expect_bound,
    fix_nhrp_checksum,
    nhrp_bytes,
    REG_REPLY,
    REG_REQ,
    register,
    shared_spokes,
    Spoke,
    to,
)

REPLY = C.PacketType.REGISTRATION_REPLY


def _register(ctx: CaseContext, nbma: str, proto: str, **kwargs):
    reqid = ctx.dut.reqid_base()
    exchange = ctx.ask(ctx.packet(REG_REQ, (nbma, proto), reqid, **kwargs))
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
    return [e.type for e in parse_ipv4_gre(ctx.packet(REG_REQ, ("192.0.2.200", "10.255.0.200"), 1)).nhrp.extensions]


@case(
    "REG-02",
    clause="RFC 2332 §5.2.0.1, §5.2.3",
    level="MUST",
    role="hub",
    breakers=("silent", "wrong-reqid", "bad-checksum", "wrong-type"),
    requirement="A CIE that carries its own client NBMA and protocol addresses registers those addresses.",
)
def test_cie_addresses_are_registered(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    reqid = ctx.dut.reqid_base()
    cie = T.Cie(prefix_len=32, mtu=1400, holding_time=ctx.dut.info.holding_time, client_nbma=nbma, client_proto=proto)
    packet = ctx.packet(REG_REQ, (nbma, proto), reqid, nhs=False, cies=[cie])
    reply = ctx.expect_reply(ctx.ask(packet), REPLY, reqid=reqid, codes=[0], to=nbma)
    if reply:
        ctx.expect_binding(proto, nbma)


@case(
    "REG-03",
    clause="RFC 2332 §5.2.3",
    level="SHOULD",
    role="hub",
    breakers=("wrong-reqid", "bad-checksum", "silent", "wrong-type"),
    requirement="A refresh (a new request ID for the same binding, as an NHC sends at a third of the holding "
    "time) succeeds and keeps the binding.",
)
def test_refresh_succeeds(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    first, exchange = _register(ctx, nbma, proto)
    ctx.expect_reply(exchange, REPLY, reqid=first, codes=[0], required=True)
    second, exchange = _register(ctx, nbma, proto)
    ctx.expect_reply(exchange, REPLY, reqid=second, codes=[0])


@case(
    "REG-04",
    clause="RFC 2332 §5.2.0.1",
    level="MUST",
    role="hub",
    breakers=("silent", "bad-checksum", "wrong-reqid", "wrong-type"),
    requirement="A retransmitted request (same request ID, same content) is answered again or ignored, never "
    "refused.",
)
def test_retransmission_is_not_refused(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    reqid = ctx.dut.reqid_base()
    packet = ctx.packet(REG_REQ, (nbma, proto), reqid)
    exchange = ctx.exchange([packet, packet], window=ctx.window)
    ctx.expect_reply(exchange, REPLY, reqid=reqid, codes=[0], required=True)
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
    breakers=("accept-unique-conflict", "bad-checksum", "silent", "wrong-reqid", "wrong-type"),
    requirement="A unique registration of an address already uniquely registered from another NBMA address "
    "gets CIE code 14 and the first binding stays.",
)
def test_unique_conflict_is_refused(ctx: CaseContext) -> None:
    first_nbma, proto = ctx.identity()
    second_nbma = ctx.dut.info.nat_nbma[0] if ctx.dut.info.nat_nbma else ctx.identity()[0]
    reqid, exchange = _register(ctx, first_nbma, proto)
    ctx.expect_reply(exchange, REPLY, reqid=reqid, codes=[0], required=True)
    reqid, exchange = _register(ctx, second_nbma, proto, src_nbma=second_nbma)
    ctx.expect_reply(exchange, REPLY, reqid=reqid, codes=[C.CieCode.UNIQUE_ADDRESS_ALREADY_REGISTERED])
    ctx.expect_binding(proto, first_nbma)


@case(
    "REG-08",
    clause="RFC 2332 §5.2.3",
    level="MUST",
    role="hub",
    breakers=("unique-always", "bad-checksum", "silent", "wrong-reqid", "wrong-type"),
    requirement="Without the U bit, a registration of an address from another NBMA address is accepted.",
)
def test_non_unique_reregistration_is_accepted(ctx: CaseContext) -> None:
    first_nbma, proto = ctx.identity()
    second_nbma = ctx.identity()[0]
    reqid, exchange = _register(ctx, first_nbma, proto, flags=C.RegistrationFlags.NAT)
    ctx.expect_reply(exchange, REPLY, reqid=reqid, codes=[0], required=True)
    reqid, exchange = _register(ctx, second_nbma, proto, src_nbma=second_nbma, flags=C.RegistrationFlags.NAT)
    ctx.expect_reply(exchange, REPLY, reqid=reqid, codes=[0])


@case(
    "REG-09",
    clause="RFC 2332 §5.2.3",
    level="MUST",
    role="hub",
    breakers=("ignore-uniqueness-prefix", "silent", "bad-checksum", "wrong-reqid", "wrong-type"),
    requirement="A unique registration (U set) whose CIE prefix length is not that of a host is refused "
    "(with U set the prefix length MUST be 0xFF).",
)
def test_unique_with_subnet_prefix_is_refused(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    reqid, exchange = _register(ctx, nbma, proto, prefix_len=24)
    # RFC 2332 §5.2.4: a request the NHS does not accept is answered with a NAK (a non-zero CIE
    # code); silence is not the refusal the clause asks for.
    reply = ctx.expect_reply(exchange, REPLY, reqid=reqid)
    if reply:
        codes = [c.code for c in reply.cies]
        refused = bool(codes) and codes[0] != 0
        ctx.expect("subnet with U", refused, f"Registration Reply codes {codes}", "Registration Reply with a non-zero CIE code")
    ctx.expect_binding(proto, present=False)


@case(
    "REG-11",
    clause="RFC 2332 §5.2.3, §5.2.4",
    level="MUST",
    role="hub",
    breakers=("first-cie-only", "bad-checksum", "silent", "wrong-reqid", "wrong-type"),
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
    packet = ctx.packet(REG_REQ, (nbma, proto), reqid, nhs=False, flags=C.RegistrationFlags.NAT, cies=cies)
    reply = ctx.expect_reply(ctx.ask(packet), REPLY, reqid=reqid, codes=[0, 0])
    if reply:
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
    reqid = ctx.dut.reqid_base()
    packet = ctx.packet(REG_REQ, (nbma, proto), reqid, cies=[], extensions=ctx.extensions(transit=False))
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
    breakers=("echo-unknown-compulsory", "bad-checksum", "silent"),
    requirement="A request with an unknown compulsory extension gets Error Indication code 1 (Unrecognized "
    "Extension) and is not processed.",
)
def test_unknown_compulsory_extension(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    unknown = T.Extension(0x0100, b"\x00\x00\x00\x00", compulsory=True)
    reqid, exchange = _register(ctx, nbma, proto, extensions=ctx.extensions(unknown, transit=False))
    ctx.expect_error_indication(exchange, C.ErrorCode.UNRECOGNIZED_EXTENSION)
    ctx.expect_binding(proto, present=False)


@case(
    "REG-19",
    clause="RFC 2332 §5.3",
    level="MUST",
    role="hub",
    breakers=("drop-extensions", "bad-checksum", "silent", "wrong-reqid", "wrong-type"),
    requirement="An unknown non-compulsory extension is ignored and returned unchanged in the reply.",
)
def test_unknown_optional_extension_is_returned(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    unknown = T.Extension(0x0100, b"\xde\xad\xbe\xef", compulsory=False)
    reqid, exchange = _register(ctx, nbma, proto, extensions=ctx.extensions(unknown, transit=False))
    reply = ctx.expect_reply(exchange, REPLY, reqid=reqid, codes=[0])
    if reply:
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
    breakers=("drop-extensions", "bad-checksum", "silent", "wrong-reqid", "wrong-type"),
    requirement="Vendor-Private extensions (the one type that may repeat) are all copied to the reply.",
)
def test_vendor_private_extensions_are_copied(ctx: CaseContext) -> None:
    nbma, proto = ctx.identity()
    vendor = [T.vendor_private(0x00000C, b"\x01"), T.vendor_private(0x00000C, b"\x02")]
    reqid, exchange = _register(ctx, nbma, proto, extensions=ctx.extensions(*vendor, transit=False))
    reply = ctx.expect_reply(exchange, REPLY, reqid=reqid, codes=[0])
    if reply:
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
    offending = parse_ipv4_gre(ctx.packet(REG_REQ, (nbma, proto), 7)).payload
    packet = ctx.packet(ERROR, (nbma, proto), error_code=C.ErrorCode.PROTOCOL_ERROR, error_offset=12, payload=offending,
                        hopcnt=0, extensions=[T.forward_transit(), T.end()])
    ctx.expect_silence(ctx.exchange(packet, window=ctx.quiet))


AUTH = ("authentication",)


def _outcome(ctx: CaseContext, spoke: Spoke, packet: bytes, window: float | None = None):
    """(the first NHRP packet the DUT sent the spoke or None, the exchange)."""
    exchange = ctx.exchange(packet, window, accept=to(ctx, spoke.nbma), stop_after=1)
    answers = exchange.nhrp()
    return (answers[0] if answers else None), exchange


def _send_nhrp(ctx: CaseContext, spoke: Spoke, nhrp: bytes, window: float | None = None):
    info = ctx.dut.info
    return _outcome(ctx, spoke, encode_ipv4_gre(nhrp, src=spoke.nbma, dst=info.nbma, key=info.gre_key), window)


@case(
    "REG-05",
    clause="RFC 2332 §5.2.0.1 (Holding Time), §5.2.3",
    level="MUST",
    role="hub",
    breakers=("ignore-holding-time", "bad-checksum", "silent", "wrong-reqid", "wrong-type"),
    requirement="A binding registered with a holding time of 2 s and not refreshed is discarded when the "
    "holding time expires (\"Cached information SHALL be discarded when the holding time expires\").",
)
def test_binding_expires_with_its_holding_time(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    reqid, exchange = register(ctx, spoke, holding_time=2)
    ctx.expect_reply(exchange, REG_REPLY, reqid=reqid, codes=[0], required=True)
    expect_bound(ctx, "within the holding time", spoke.proto, True)
    ctx.wait(3.5)
    expect_bound(ctx, "after the holding time", spoke.proto, False)


@case(
    "REG-06",
    clause="RFC 2332 §5.2.0.1 (Holding Time)",
    level="SHOULD",
    role="hub",
    breakers=("default-for-zero-holding-time", "ignore-holding-time", "silent", "wrong-reqid", "wrong-type"),
    requirement="A registration whose CIE holding time is 0 (information valid for no time; 0 is meant for "
    "NAKs) is refused, or acknowledged without a binding that outlives it; it is not kept for a default "
    "holding time.",
)
def test_zero_holding_time(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    reqid, exchange = register(ctx, spoke, holding_time=0)
    answers = [p for p in exchange.nhrp() if p.nhrp.reqid == reqid]
    if not answers or answers[0].nhrp.op_type != REG_REPLY:
        ctx.observe("holding time 0", False, describe(answers[0]) if answers else "no reply", "a Registration Reply (a NAK, or an ACK without a lasting binding)")
        return
    codes = [c.code for c in answers[0].nhrp.cies]
    if codes and codes[0] != 0:
        ctx.expect("holding time 0", True, f"refused with code {codes[0]}", "refused, or no lasting binding")
        return
    ctx.wait(max(1.0, ctx.quiet))
    state = bound(ctx, spoke.proto)
    if state is None:
        ctx.note("acknowledged; the DUT's bindings cannot be read here")
        ctx.expect("holding time 0", True, "acknowledged", "refused, or no lasting binding")
        return
    ctx.expect("holding time 0", not state, "acknowledged and kept" if state else "acknowledged, not kept", "refused, or no lasting binding")


@case(
    "REG-10",
    clause="RFC 2332 §5.2.3 (Prefix Length), §5.2.4 (CIE codes)",
    level="MUST",
    role="hub",
    breakers=("subnet-code-13", "bad-checksum", "silent", "wrong-reqid", "wrong-type"),
    requirement="A registration of an equivalence class (U clear, CIE prefix length 24) is accepted (code 0) or "
    "refused with one of the codes RFC 2332 defines for a Registration Reply (4 Administratively Prohibited, "
    "5 Insufficient Resources); never with a code that belongs to other replies, such as 13.",
)
def test_subnet_registration(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    reqid, exchange = register(ctx, spoke, unique=False, prefix_len=24)
    answers = [p for p in exchange.nhrp() if p.nhrp.reqid == reqid or p.nhrp.op_type == ERROR]
    if not answers:
        ctx.observe("subnet registration", False, "no reply", "Registration Reply codes [0], [4] or [5]")
        return
    view = answers[0].nhrp
    codes = [c.code for c in view.cies] if view.op_type == REG_REPLY else None
    ok = codes in ([0], [4], [5]) and view.checksum_ok
    ctx.expect("subnet registration", ok, describe(answers[0]), "Registration Reply codes [0], [4] or [5]")


@case(
    "REG-13",
    clause="RFC 2332 §5.2.3",
    level="MUST",
    role="hub",
    breakers=("register-any-destination",),
    requirement="A Registration Request whose destination protocol address is neither the NHS's nor the "
    "requester's own (here: another registered spoke's) is not processed by the NHS: it is forwarded towards "
    "that address (hop count decremented, request ID unchanged) or dropped, never answered nor registered.",
)
def test_registration_for_another_destination(ctx: CaseContext) -> None:
    spokes = shared_spokes(ctx)
    _, other = spokes
    spoke = Spoke(*ctx.identity())
    reqid = ctx.dut.reqid_base()
    exchange = ctx.exchange(
        ctx.packet(REG_REQ, spoke, reqid, dst_proto=other.proto, hopcnt=16), accept=to(ctx, spoke.nbma, other.nbma), stop_after=1
    )
    answers = [p for p in exchange.nhrp() if p.nhrp.reqid == reqid or p.nhrp.op_type == ERROR]
    if not answers:
        observed = "dropped"
    else:
        packet = answers[0]
        view = packet.nhrp
        if view.op_type == C.PacketType.REGISTRATION_REQUEST and packet.outer_dst == other.nbma:
            observed = "forwarded" if view.hopcnt == 15 else f"forwarded with hop count {view.hopcnt} (sent 16)"
        elif view.op_type == REG_REPLY:
            observed = "answered: " + describe(packet)
        else:
            observed = describe(packet)
    ctx.expect("not processed", observed in ("forwarded", "dropped"), observed, "forwarded towards the destination, or dropped")
    expect_bound(ctx, "not registered at the NHS", spoke.proto, False)


def _password(ctx: CaseContext) -> bytes:
    return bytes(ctx.dut.info.password or b"")


def _wrong(password: bytes) -> bytes:
    candidate = b"WRONGPW1"[: max(1, len(password))]
    return candidate if candidate != password else b"OTHERPW2"[: max(1, len(password))]


def _expect_auth_failure(ctx: CaseContext, label: str, spoke: Spoke, **kwargs) -> None:
    reqid = ctx.dut.reqid_base()
    answer, _ = _outcome(ctx, spoke, ctx.packet(REG_REQ, spoke, reqid, **kwargs))
    if answer is None:
        observed = "no reply"
    else:
        observed = describe(answer)
    want = f"Error Indication code {C.ErrorCode.AUTHENTICATION_FAILURE}"
    ok = answer is not None and answer.nhrp.op_type == ERROR and answer.nhrp.code == C.ErrorCode.AUTHENTICATION_FAILURE
    ctx.expect(label, ok, f"{label}: {observed}", f"{label}: {want}")


@case(
    "REG-14",
    clause="RFC 2332 §5.3.4; Cisco plaintext authentication (type 7: 00000001 + password)",
    level="MUST",
    role="hub",
    breakers=("drop-extensions", "bad-checksum", "silent", "wrong-reqid", "wrong-type"),
    requirement="A Registration Request with the right authentication extension is accepted, and the reply "
    "carries the authentication extension.",
    requires=AUTH,
)
def test_right_password(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    reqid, exchange = register(ctx, spoke)
    reply = ctx.expect_reply(exchange, REG_REPLY, reqid=reqid, codes=[0], to=spoke.nbma)
    ext = reply.extension(C.ExtensionType.AUTHENTICATION)
    want = struct.pack("!I", C.CISCO_AUTH_PLAINTEXT) + _password(ctx)
    observed = "no authentication extension" if ext is None else ("the password" if ext.value == want else "another value")
    ctx.expect("authentication extension", observed == "the password", f"reply carries {observed}", "reply carries the password")


@case(
    "REG-15",
    clause="RFC 2332 §5.3.4, §5.2.7",
    level="MUST",
    role="hub",
    breakers=("ignore-auth", "silent"),
    requirement="A Registration Request with a wrong password, or without the authentication extension, fails "
    "the authentication test: Error Indication code 11 (Authentication Failure) and no binding.",
    requires=AUTH,
)
def test_wrong_or_missing_password(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    exts = [T.responder_address(), T.forward_transit(), T.reverse_transit(), T.end()]
    _expect_auth_failure(ctx, "wrong password", spoke, password=_wrong(_password(ctx)))
    _expect_auth_failure(ctx, "no authentication extension", spoke, extensions=exts, password=None)
    expect_bound(ctx, "not registered", spoke.proto, False)


@case(
    "REG-16",
    clause="RFC 2332 §5.3.4; Cisco plaintext authentication (the password unpadded)",
    level="SHOULD",
    role="hub",
    breakers=("auth-prefix-compare", "ignore-auth", "silent"),
    requirement="An authentication extension whose password is padded with NUL bytes (to 8 bytes, or by one "
    "byte when it is 8 already) is not the configured password: Error Indication code 11 and no binding.",
    requires=AUTH,
)
def test_padded_password(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    password = _password(ctx)
    padded = password.ljust(8, b"\0") if len(password) < 8 else password + b"\0"
    _expect_auth_failure(ctx, "NUL-padded password", spoke, password=padded)
    expect_bound(ctx, "not registered", spoke.proto, False)


@case(
    "REG-17",
    clause="RFC 2332 §5.2.7, §5.3.4",
    level="MUST",
    role="hub",
    breakers=("error-on-error",),
    requirement="An Error Indication code 11 that itself carries a wrong authentication extension draws no "
    "Error Indication.",
    requires=AUTH,
)
def test_no_error_about_an_authentication_error(ctx: CaseContext) -> None:
    spokes = shared_spokes(ctx)
    asker, _ = spokes
    offending = nhrp_bytes(ctx.packet(REG_REQ, asker, 7))
    packet = ctx.packet(ERROR, asker, error_code=C.ErrorCode.AUTHENTICATION_FAILURE, payload=offending, hopcnt=0,
                        password=_wrong(_password(ctx)))
    ctx.expect_silence(ctx.exchange(packet, window=ctx.quiet, accept=to(ctx, asker.nbma)))


@case(
    "REG-28",
    clause="RFC 2332 §5.2.7, §5.3.4",
    level="MUST",
    role="hub",
    breakers=("auth-error-on-error", "error-on-error"),
    requirement="An Error Indication of another code (Protocol Error) that carries a wrong authentication "
    "extension is discarded and draws no Error Indication: not even Authentication Failure.",
    requires=AUTH,
)
def test_no_authentication_error_about_an_error(ctx: CaseContext) -> None:
    spokes = shared_spokes(ctx)
    asker, _ = spokes
    offending = nhrp_bytes(ctx.packet(REG_REQ, asker, 7))
    packet = ctx.packet(ERROR, asker, error_code=C.ErrorCode.PROTOCOL_ERROR, error_offset=12, payload=offending, hopcnt=0,
                        password=_wrong(_password(ctx)))
    ctx.expect_silence(ctx.exchange(packet, window=ctx.quiet, accept=to(ctx, asker.nbma)))


@case(
    "REG-21",
    clause="RFC 2332 §5.3",
    level="MUST",
    role="hub",
    breakers=("duplicate-extensions", "crash-on-malformed"),
    requirement="A request that repeats an extension that may occur only once (two Responder Address "
    "extensions) is discarded, reported (Error Indication 7 or 9) or answered with that extension once; the "
    "reply never repeats it.",
    malformed=True,
)
def test_repeated_extension(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    reqid = ctx.dut.reqid_base()
    exts = [T.responder_address(), T.responder_address(), T.forward_transit(), T.reverse_transit()]
    if ctx.dut.info.password is not None:
        exts.append(T.cisco_auth(ctx.dut.info.password))
    answer, _ = _outcome(ctx, spoke, ctx.packet(REG_REQ, spoke, reqid, extensions=exts + [T.end()]))
    if answer is None:
        observed, ok = "no reply", True
    elif answer.nhrp.op_type == ERROR:
        observed = describe(answer)
        ok = answer.nhrp.code in (C.ErrorCode.PROTOCOL_ERROR, C.ErrorCode.INVALID_EXTENSION)
    elif answer.nhrp.op_type == REG_REPLY:
        count = sum(1 for e in answer.nhrp.extensions if e.type == C.ExtensionType.RESPONDER_ADDRESS)
        observed = f"Registration Reply with {count} Responder Address extension" + ("s" if count != 1 else "")
        ok = count <= 1 and answer.nhrp.checksum_ok
    else:
        observed, ok = describe(answer), False
    ctx.expect("repeated Responder Address", ok, observed, "discarded, Error Indication 7 or 9, or a reply with it once")


@case(
    "REG-22",
    clause="RFC 2332 §5.3, §5.3.0",
    level="MUST",
    role="hub",
    breakers=("no-end-extension", "bad-checksum", "wrong-reqid", "wrong-type"),
    requirement="A request whose extension list lacks the End extension is processed or discarded; a reply to "
    "it is well formed and terminates its own extension list with End.",
    malformed=True,
)
def test_extensions_without_end(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    reqid = ctx.dut.reqid_base()
    exts = ctx.extensions()[:-1]  # all but End
    answer, exchange = _outcome(ctx, spoke, ctx.packet(REG_REQ, spoke, reqid, extensions=exts))
    if answer is None:
        broken = exchange.unparsable()
        ctx.expect("no End", not broken, "malformed answer" if broken else "no reply", "processed with a well-formed reply, or discarded")
        return
    view = answer.nhrp
    if view.op_type == ERROR:
        ctx.expect("no End", view.code == C.ErrorCode.PROTOCOL_ERROR, describe(answer), "processed with a well-formed reply, or discarded")
        return
    problems = []
    if view.op_type != REG_REPLY or view.reqid != reqid:
        problems.append(describe(answer))
    if not view.checksum_ok:
        problems.append("bad checksum")
    if view.extensions and view.extensions[-1].type != C.ExtensionType.END:
        problems.append("reply extensions not terminated by End")
    ctx.expect("no End", not problems, "; ".join(problems) or "Registration Reply terminated by End", "processed with a well-formed reply, or discarded")


@case(
    "REG-23",
    clause="RFC 2332 §5.3, §5.1 (ar$pktsz)",
    level="MUST",
    role="hub",
    breakers=("answer-anything", "crash-on-malformed"),
    requirement="A request with an extension whose length runs past the end of the packet (ar$pktsz) is "
    "discarded (an Error Indication 7 is allowed) and registers nothing.",
    malformed=True,
)
def test_extension_length_past_the_packet(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    data = bytearray(nhrp_bytes(ctx.packet(REG_REQ, spoke, ctx.dut.reqid_base())))
    extoff = struct.unpack_from("!H", data, 14)[0]
    struct.pack_into("!H", data, extoff + 2, len(data))  # the first extension claims more than there is
    answer, exchange = _send_nhrp(ctx, spoke, fix_nhrp_checksum(bytes(data)), window=ctx.quiet)
    ctx.expect_silence(exchange, allowed_errors=(int(C.ErrorCode.PROTOCOL_ERROR),))
    expect_bound(ctx, "not registered", spoke.proto, False)


@case(
    "REG-24",
    clause="RFC 2332 §5.3 (the u bit), §5.2.7",
    level="MUST",
    role="hub",
    breakers=("ext-u-bit-echoed", "drop-extensions", "no-responder-address", "wrong-type"),
    requirement="A compulsory extension with the unused u bit set (a Responder Address typed 0xC003) is either "
    "processed as its type (the Responder Address filled in) or treated as unrecognized (Error Indication 1) or "
    "discarded; it is never echoed unprocessed in a success reply.",
    malformed=True,
)
def test_extension_u_bit(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    reqid = ctx.dut.reqid_base()
    exts = ctx.extensions()
    exts[0] = T.Extension(C.ExtensionType.RESPONDER_ADDRESS | C.EXT_UNUSED, b"")  # C|u|3
    answer, _ = _outcome(ctx, spoke, ctx.packet(REG_REQ, spoke, reqid, extensions=exts))
    if answer is None:
        observed, ok = "no reply", True
    elif answer.nhrp.op_type == ERROR:
        observed = describe(answer)
        ok = answer.nhrp.code in (C.ErrorCode.UNRECOGNIZED_EXTENSION, C.ErrorCode.PROTOCOL_ERROR)
    elif answer.nhrp.op_type == REG_REPLY:
        responder = [e for e in answer.nhrp.extensions if e.type == C.ExtensionType.RESPONDER_ADDRESS]
        if not responder:
            observed, ok = "success reply without the extension (no Error Indication 1)", False
        elif responder[0].cies:
            observed, ok = "processed as Responder Address", True
        else:
            observed, ok = "echoed unprocessed in a success reply", False
    else:
        observed, ok = describe(answer), False
    ctx.expect("u bit", ok, observed, "processed as its type, Error Indication 1, or discarded")
