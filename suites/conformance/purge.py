"""Purge (RFC 2332 §5.2.5, §5.2.6): the DUT as NHS, a registered spoke purging its binding.

Checklist §D.6, the rows that apply to a DUT hub (PUR-01, -02, -03, -05; PUR-04 is a DUT spoke's).

PUR-04 is the DUT spoke's side: a Purge Request from its NHS removes a shortcut it learned.
"""

from __future__ import annotations

from dmvpn.conformance import CaseContext, case
from dmvpn.conformance.context import describe
from dmvpn.wire import constants as C, templates as T

from ._hub import (
    expect_bound,
    fresh_lan_host,
    new_spoke,
    shared_spokes,
    Spoke,
    to,
)
from ._nhc import SHORTCUT_FLOW, ERROR, PURGE_REP, Rig

PURGE_REPLY = C.PacketType.PURGE_REPLY


def _purge(ctx: CaseContext, sender: Spoke, purged: str, reqid: int, no_reply: bool = False, op_type: int = C.PacketType.PURGE_REQUEST, **kwargs) -> bytes:
    """A Purge Request (or Reply) from `sender` to the DUT for `purged`: one CIE, host prefix, holding time 0."""
    kwargs.setdefault("flags", C.PurgeFlags.N if no_reply else 0)
    return ctx.packet(op_type, (sender.nbma, sender.proto), reqid, purged=purged, **kwargs)


def _same_as_request(ctx: CaseContext, reply, sent: bytes) -> None:
    """§5.2.6: the reply is the request with the type changed (and extensions filled in)."""
    from dmvpn.wire.fastparse import parse_ipv4_gre

    request = parse_ipv4_gre(sent).nhrp
    changed = [
        name for name, a, b in (
            ("flags", reply.flags, request.flags),
            ("source NBMA address", reply.src_nbma, request.src_nbma),
            ("source protocol address", reply.src_proto, request.src_proto),
            ("destination protocol address", reply.dst_proto, request.dst_proto),
            ("CIEs", [(c.code, c.prefix_len, c.client_proto) for c in reply.cies], [(c.code, c.prefix_len, c.client_proto) for c in request.cies]),
        ) if a != b
    ]
    ctx.expect("the request with the type changed", not changed, "changed: " + ", ".join(changed) if changed else "unchanged", "unchanged")


@case(
    "PUR-01",
    clause="RFC 2332 §5.2.5, §5.2.6",
    level="MUST",
    role="hub",
    breakers=("no-purge", "keep-on-purge", "bad-checksum"),
    requirement="A Purge Request (N clear) from a registered client for its own address is answered with a "
    "Purge Reply (the request with only the type changed) and the binding is discarded.",
)
def test_purge_is_answered_and_honoured(ctx: CaseContext) -> None:
    spoke = new_spoke(ctx, "the purging spoke")
    reqid = ctx.dut.reqid_base()
    sent = _purge(ctx, spoke, spoke.proto, reqid)
    reply = ctx.expect_reply(ctx.exchange(sent, accept=to(ctx, spoke.nbma), stop_after=1), PURGE_REPLY, reqid=reqid, to=spoke.nbma)
    if reply:
        _same_as_request(ctx, reply, sent)
    expect_bound(ctx, "binding discarded", spoke.proto, False)


@case(
    "PUR-02",
    clause="RFC 2332 §5.2.5",
    level="MUST",
    role="hub",
    breakers=("keep-on-purge", "reply-despite-n", "no-purge"),
    requirement="A Purge Request with the N bit set is not answered, and the binding it names is discarded.",
)
def test_purge_without_reply(ctx: CaseContext) -> None:
    spoke = new_spoke(ctx, "the purging spoke")
    reqid = ctx.dut.reqid_base()
    exchange = ctx.exchange(_purge(ctx, spoke, spoke.proto, reqid, no_reply=True), window=ctx.quiet, accept=to(ctx, spoke.nbma))
    ctx.expect_silence(exchange)
    expect_bound(ctx, "binding discarded", spoke.proto, False)


@case(
    "PUR-03",
    clause="RFC 2332 §5.2.5",
    level="MUST",
    role="hub",
    breakers=("no-purge", "purge-reply-only-if-cached", "bad-checksum"),
    requirement="A Purge Reply is returned for a Purge Request (N clear) even when no cached information "
    "matches it.",
)
def test_purge_of_nothing_is_answered(ctx: CaseContext) -> None:
    spokes = shared_spokes(ctx)
    asker, _ = spokes
    reqid = ctx.dut.reqid_base()
    sent = _purge(ctx, asker, fresh_lan_host(ctx), reqid)  # an address nobody registered
    ctx.expect_reply(ctx.exchange(sent, accept=to(ctx, asker.nbma), stop_after=1), PURGE_REPLY, reqid=reqid, to=asker.nbma)


@case(
    "PUR-05",
    clause="RFC 2332 §5.2.5 (N)",
    level="MUST",
    role="hub",
    breakers=("purge-on-reply",),
    requirement="An unsolicited Purge Reply naming the NHS as its source is ignored: no answer, and the "
    "binding it names stays.",
)
def test_unsolicited_purge_reply_is_ignored(ctx: CaseContext) -> None:
    spokes = shared_spokes(ctx)
    asker, target = spokes
    info = ctx.dut.info
    reqid = ctx.dut.reqid_base()
    # As if the DUT had purged the target's binding at the target: src = the DUT, dst = the target.
    packet = _purge(
        ctx, target, target.proto, reqid, op_type=PURGE_REPLY, src_nbma=info.nbma, src_proto=info.proto, dst_proto=target.proto,
    )
    exchange = ctx.exchange(packet, window=ctx.quiet, accept=to(ctx, target.nbma, asker.nbma))
    answers = exchange.nhrp()
    ctx.expect("ignored", not answers, describe(answers[0]) if answers else "no answer", "no answer")
    expect_bound(ctx, "binding kept", target.proto, True)


# -- the DUT as NHC (spoke) ---------------------------------------------------------------------------


NEEDS = SHORTCUT_FLOW


@case(
    "PUR-04",
    clause="RFC 2332 §5.2.5, §6.2.1",
    level="MUST",
    role="spoke",
    breakers=("ignore-purge", "bad-checksum"),
    requirement="A Purge Request (N clear) from the NHS for a shortcut the spoke learned gets a Purge Reply, the "
    "shortcut is deleted and data goes via the NHS again.",
    requires=NEEDS + ("send-data",),
)
def test_purge_removes_the_shortcut(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    rig.register()
    info = ctx.dut.info
    peer, target = rig.peer(), rig.target()
    rig.shortcut_to(peer, target, prefix_len=24)
    if rig.wait_shortcut(target) is None:
        ctx.observe("shortcut installed", False, "no shortcut", "a shortcut to purge")
        return
    reqid = ctx.dut.reqid_base()
    purge = T.purge_request(
        outer_src=rig.nhs_nbma, outer_dst=info.nbma, src_proto=rig.nhs_proto, dst_proto=info.proto,
        gre_key=info.gre_key, reqid=reqid, hopcnt=64, purge_proto=target, prefix_len=24, password=info.password,
    ).packet
    exchange = rig.send(purge, ctx.window, (PURGE_REP, ERROR), stop_after=1)
    ctx.expect_reply(exchange, PURGE_REP, reqid=reqid)
    found = rig.wait_shortcut(target, present=False, timeout=ctx.quiet / 3)
    if found is not False:
        ctx.expect("shortcut purged", not found, "shortcut kept" if found else "shortcut gone", "shortcut gone")
    rig.expect_data_via_nhs(target, peer[0])
