"""Registration, continued (RFC 2332 §5.2.0.1, §5.2.3, §5.2.4, §5.3): holding times, subnets,
forwarding, authentication and malformed extension lists. The DUT as NHS.

Checklist §D.3: REG-05, -06, -10, -13, -14..17 (authentication: only for a DUT configured with a
password, `ctx.dut.info.password`), -21..24. REG-26/27 are performance measurements.
"""

from __future__ import annotations

import struct

from dmvpn.conformance import CaseContext, case
from dmvpn.conformance.context import describe
from dmvpn.wire import constants as C
from dmvpn.wire import templates as T
from dmvpn.wire.templates import encode_ipv4_gre

from ._hub import (
    ERROR,
    REG_REPLY,
    Spoke,
    bound,
    expect_bound,
    extensions,
    fix_nhrp_checksum,
    nhrp_bytes,
    register,
    registration,
    shared_spokes,
    to,
)

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
    breakers=("ignore-holding-time",),
    requirement="A binding registered with a holding time of 2 s and not refreshed is discarded when the "
    "holding time expires (\"Cached information SHALL be discarded when the holding time expires\").",
)
def test_binding_expires_with_its_holding_time(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    reqid, exchange = register(ctx, spoke, holding_time=2)
    if ctx.expect_reply(exchange, REG_REPLY, reqid=reqid, codes=[0]) is None:
        return
    expect_bound(ctx, "within the holding time", spoke.proto, True)
    ctx.wait(3.5)
    expect_bound(ctx, "after the holding time", spoke.proto, False)


@case(
    "REG-06",
    clause="RFC 2332 §5.2.0.1 (Holding Time)",
    level="SHOULD",
    role="hub",
    breakers=("default-for-zero-holding-time", "ignore-holding-time"),
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
    breakers=("subnet-code-13",),
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
    if spokes is None:
        return
    _, other = spokes
    spoke = Spoke(*ctx.identity())
    reqid = ctx.dut.reqid_base()
    exchange = ctx.exchange(
        registration(ctx, spoke, reqid, dst_proto=other.proto, hopcnt=16), accept=to(ctx, spoke.nbma, other.nbma), stop_after=1
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


# -- authentication (Cisco plaintext, RFC 2332 §5.3.4's rules) -----------------------------------


def _password(ctx: CaseContext) -> bytes:
    return bytes(ctx.dut.info.password or b"")


def _wrong(password: bytes) -> bytes:
    candidate = b"WRONGPW1"[: max(1, len(password))]
    return candidate if candidate != password else b"OTHERPW2"[: max(1, len(password))]


def _expect_auth_failure(ctx: CaseContext, label: str, spoke: Spoke, **kwargs) -> None:
    reqid = ctx.dut.reqid_base()
    answer, _ = _outcome(ctx, spoke, registration(ctx, spoke, reqid, **kwargs))
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
    breakers=("drop-extensions",),
    requirement="A Registration Request with the right authentication extension is accepted, and the reply "
    "carries the authentication extension.",
    requires=AUTH,
)
def test_right_password(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    reqid, exchange = register(ctx, spoke)
    reply = ctx.expect_reply(exchange, REG_REPLY, reqid=reqid, codes=[0], to=spoke.nbma)
    if reply is None:
        return
    ext = reply.extension(C.ExtensionType.AUTHENTICATION)
    want = struct.pack("!I", C.CISCO_AUTH_PLAINTEXT) + _password(ctx)
    observed = "no authentication extension" if ext is None else ("the password" if ext.value == want else "another value")
    ctx.expect("authentication extension", observed == "the password", f"reply carries {observed}", "reply carries the password")


@case(
    "REG-15",
    clause="RFC 2332 §5.3.4, §5.2.7",
    level="MUST",
    role="hub",
    breakers=("ignore-auth",),
    requirement="A Registration Request with a wrong password, or without the authentication extension, fails "
    "the authentication test: Error Indication code 11 (Authentication Failure) and no binding.",
    requires=AUTH,
)
def test_wrong_or_missing_password(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    exts = [T.responder_address(), T.forward_transit(), T.reverse_transit(), T.end()]
    _expect_auth_failure(ctx, "wrong password", spoke, password=_wrong(_password(ctx)))
    _expect_auth_failure(ctx, "no authentication extension", spoke, extensions=exts)
    expect_bound(ctx, "not registered", spoke.proto, False)


@case(
    "REG-16",
    clause="RFC 2332 §5.3.4; Cisco plaintext authentication (the password unpadded)",
    level="SHOULD",
    role="hub",
    breakers=("auth-prefix-compare",),
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
    if spokes is None:
        return
    asker, _ = spokes
    info = ctx.dut.info
    offending = nhrp_bytes(registration(ctx, asker, 7))
    packet = T.error_indication(
        C.ErrorCode.AUTHENTICATION_FAILURE, 0, payload=offending, outer_src=asker.nbma, outer_dst=info.nbma, src_nbma=asker.nbma,
        src_proto=asker.proto, dst_proto=info.proto, gre_key=info.gre_key, hopcnt=0,
        extensions=[T.cisco_auth(_wrong(_password(ctx))), T.end()],
    ).packet
    ctx.expect_silence(ctx.exchange(packet, window=ctx.quiet, accept=to(ctx, asker.nbma)))


# -- malformed extension lists (RFC 2332 §5.3) ------------------------------------------------------


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
    answer, _ = _outcome(ctx, spoke, registration(ctx, spoke, reqid, extensions=exts + [T.end()]))
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
    breakers=("no-end-extension",),
    requirement="A request whose extension list lacks the End extension is processed or discarded; a reply to "
    "it is well formed and terminates its own extension list with End.",
    malformed=True,
)
def test_extensions_without_end(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    reqid = ctx.dut.reqid_base()
    exts = extensions(ctx)[:-1]  # all but End
    answer, exchange = _outcome(ctx, spoke, registration(ctx, spoke, reqid, extensions=exts))
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
    data = bytearray(nhrp_bytes(registration(ctx, spoke, ctx.dut.reqid_base())))
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
    breakers=("ext-u-bit-echoed",),
    requirement="A compulsory extension with the unused u bit set (a Responder Address typed 0xC003) is either "
    "processed as its type (the Responder Address filled in) or treated as unrecognized (Error Indication 1) or "
    "discarded; it is never echoed unprocessed in a success reply.",
    malformed=True,
)
def test_extension_u_bit(ctx: CaseContext) -> None:
    spoke = Spoke(*ctx.identity())
    reqid = ctx.dut.reqid_base()
    exts = extensions(ctx)
    exts[0] = T.Extension(C.ExtensionType.RESPONDER_ADDRESS | C.EXT_UNUSED, b"")  # C|u|3
    answer, _ = _outcome(ctx, spoke, registration(ctx, spoke, reqid, extensions=exts))
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
