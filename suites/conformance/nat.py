"""NAT (the DUT as NHS, a spoke behind a simulated NAT): RFC 2332 §5.2.4 and the Cisco NAT extension.

Checklist §D.4 (NAT-01..04; NAT-05/06 are ESP-in-UDP, see esp.py). A spoke "behind NAT" claims
its private NBMA address (a tester pool address) in the packet while the packet itself comes from
a "public" address of the DUT's NAT pool, as a NAT device would rewrite it.

NAT-06 (the NAT-T keepalive) runs on the DUT's ESP link (capabilities esp, nat-t).
"""

from __future__ import annotations

from dmvpn.conformance import CaseContext, case
from dmvpn.conformance.context import describe
from dmvpn.wire import constants as C
from dmvpn.wire.esp import nat_keepalive

from ._hub import (
    bound,
    esp_replies,
    public_nbma,
    REG_REPLY,
    register,
    RES_REPLY,
    RES_REQUEST,
    resolution_request,
    setup_registration,
    shared_spokes,
    Spoke,
    to,
)

REQUIRES = ("nat",)


def _natted(ctx: CaseContext, public: str | None = None) -> Spoke:
    private, proto = ctx.identity()
    return Spoke(public or public_nbma(ctx), proto, claimed=private)


def _binding_of(ctx: CaseContext, spoke: Spoke) -> str | None:
    """Which NBMA address the DUT's cache binds the spoke's address to, in fixed words (None: unreadable)."""
    cache = ctx.cache()
    if cache is None:
        ctx.note("the DUT's cache cannot be read: the binding's NBMA address is not checked")
        return None
    entry = next((e for e in cache if e.get("proto") == spoke.proto), None)
    if entry is None:
        return "not bound"
    if entry.get("nbma") == spoke.nbma:
        return "bound to the post-NAT address"
    if entry.get("nbma") == spoke.claimed:
        return "bound to the claimed (private) address"
    return "bound to another address"


def _expect_post_nat_binding(ctx: CaseContext, spoke: Spoke) -> None:
    state = _binding_of(ctx, spoke)
    if state is not None:
        ctx.expect("binding", state == "bound to the post-NAT address", state, "bound to the post-NAT address")


@case(
    "NAT-01",
    clause="RFC 2332 §5.2.4; Cisco NAT Address extension (type 9)",
    level="MUST",
    role="hub",
    breakers=("reply-to-claimed-nbma", "no-nat-extension", "nat-binding-claimed"),
    requirement="A Registration Request whose claimed NBMA address differs from the packet's source (a spoke "
    "behind NAT) is answered at the packet's source address, its NAT extension is returned with a CIE giving "
    "the post-NAT NBMA address and the spoke's protocol address, and the binding uses the post-NAT address.",
    requires=REQUIRES,
)
def test_registration_behind_nat(ctx: CaseContext) -> None:
    spoke = _natted(ctx)
    reqid, exchange = register(ctx, spoke)
    reply = ctx.expect_reply(exchange, REG_REPLY, reqid=reqid, codes=[0], to=spoke.nbma)
    nat = reply.extension(C.ExtensionType.NAT_ADDRESS)
    cies = list(nat.cies or []) if nat is not None else []
    reported = [c for c in cies if str(c.client_nbma) == spoke.nbma and str(c.client_proto) == spoke.proto]
    sent_cies = 1  # ctx.registration's NAT extension names the NHS
    if nat is None:
        observed = "no NAT extension"
    elif reported and len(cies) == sent_cies + 1:
        observed = "NAT extension echoed plus the post-NAT CIE"
    elif reported:
        observed = f"NAT extension with {len(cies)} CIEs, the post-NAT one among them"
    else:
        observed = f"NAT extension with {len(cies)} CIEs, none with the post-NAT address"
    ctx.expect("NAT extension", observed == "NAT extension echoed plus the post-NAT CIE", observed, "NAT extension echoed plus the post-NAT CIE")
    _expect_post_nat_binding(ctx, spoke)


@case(
    "NAT-02",
    clause="RFC 2332 §5.2.4, §5.3",
    level="MUST",
    role="hub",
    breakers=("reply-to-claimed-nbma", "nat-binding-claimed", "nat-ext-unsolicited"),
    requirement="A registration from behind NAT without a NAT extension is answered at the packet's source "
    "address, the reply carries no NAT extension (extensions appear in a reply only if they were in the "
    "request), and the binding uses the post-NAT address.",
    requires=REQUIRES,
)
def test_registration_behind_nat_without_extension(ctx: CaseContext) -> None:
    spoke = _natted(ctx)
    reqid, exchange = register(ctx, spoke, extensions=ctx.extensions())
    reply = ctx.expect_reply(exchange, REG_REPLY, reqid=reqid, codes=[0], to=spoke.nbma)
    nat = reply.extension(C.ExtensionType.NAT_ADDRESS)
    ctx.expect("no NAT extension", nat is None, "a NAT extension" if nat is not None else "no NAT extension", "no NAT extension")
    _expect_post_nat_binding(ctx, spoke)


@case(
    "NAT-03",
    clause="RFC 2332 §5.2.2; Cisco NAT Address extension (type 9)",
    level="MUST",
    role="hub",
    breakers=("nat-binding-claimed",),
    requirement="Resolving a spoke registered from behind NAT gives its post-NAT NBMA address: a forwarded "
    "Resolution Request goes to the post-NAT address, an answer carries it in its CIE.",
    requires=REQUIRES,
)
def test_resolution_of_a_natted_spoke(ctx: CaseContext) -> None:
    spokes = shared_spokes(ctx)
    asker, _ = spokes
    target = _natted(ctx)
    if not setup_registration(ctx, target, "the spoke behind NAT"):
        return
    reqid = ctx.dut.reqid_base()
    exchange = ctx.exchange(
        resolution_request(ctx, asker, target.proto, reqid), accept=to(ctx, asker.nbma, target.nbma, target.claimed), stop_after=1
    )
    answers = [p for p in exchange.nhrp() if p.nhrp.reqid == reqid]
    if not answers:
        ctx.observe("resolution", False, "no reply", "the post-NAT address (forwarded there, or in the answer)")
        return
    packet = answers[0]
    view = packet.nhrp
    if view.op_type == RES_REQUEST:
        where = "post-NAT" if packet.outer_dst == target.nbma else "claimed (private)" if packet.outer_dst == target.claimed else "another"
        observed = f"forwarded to the {where} address"
    elif view.op_type == RES_REPLY and view.cies and view.cies[0].code == 0:
        nbma = str(view.cies[0].client_nbma)
        where = "post-NAT" if nbma == target.nbma else "claimed (private)" if nbma == target.claimed else "another"
        observed = f"answered with the {where} address"
    else:
        observed = describe(packet)
    ctx.expect("resolution", "post-NAT" in observed, observed, "forwarded to the post-NAT address, or answered with it")


@case(
    "NAT-04",
    clause="RFC 2332 §5.2.3",
    level="MUST",
    role="hub",
    breakers=("one-binding-per-nbma", "reply-to-claimed-nbma"),
    requirement="Two spokes behind the same NAT (one public address, two protocol addresses) both register "
    "and both bindings stay, also when one of them refreshes.",
    requires=REQUIRES,
)
def test_two_spokes_behind_one_nat(ctx: CaseContext) -> None:
    public = public_nbma(ctx)
    first, second = _natted(ctx, public), _natted(ctx, public)
    if not setup_registration(ctx, first, "the first spoke behind the NAT"):
        return
    reqid, exchange = register(ctx, second)
    ctx.expect_reply(exchange, REG_REPLY, reqid=reqid, codes=[0], to=public, required=True)
    reqid, exchange = register(ctx, first)  # a refresh of the first one
    ctx.expect_reply(exchange, REG_REPLY, reqid=reqid, codes=[0], to=public, required=True)
    states = [bound(ctx, s.proto) for s in (first, second)]
    if None in states:
        ctx.note("the DUT's bindings cannot be read here")
        return
    observed = {(True, True): "both bound", (True, False): "only the first bound", (False, True): "only the second bound"}.get(tuple(states), "neither bound")
    ctx.expect("both bindings", observed == "both bound", observed, "both bound")


@case(
    "NAT-06",
    clause="RFC 3948 §2.3, §3.2",
    level="MUST",
    role="hub",
    breakers=("keepalive-is-esp",),
    requirement="A NAT-keepalive (UDP 4500 carrying the single octet 0xFF) is ignored.",
    requires=("esp", "nat-t"),
    malformed=True,
)
def test_nat_keepalive_is_ignored(ctx: CaseContext) -> None:
    link = ctx.dut.esp_link()
    nbma = ctx.dut.esp_tester(True)
    link.send_raw(nat_keepalive(nbma, ctx.dut.info.nbma))
    replies = esp_replies(ctx, link, ctx.quiet)
    ctx.expect("keepalive", not replies, "answered" if replies else "ignored", "ignored")
