"""Phase 3 redirect at the DUT hub: hairpinned data and the Traffic Indication (draft-detienne-dmvpn-01).

Checklist §D.7, the hub rows (P3-01, P3-02, P3-04). The suite's requesting spoke sends data (GRE
protocol 0x0800) from a host on its LAN, an address it registered with the hub, to the target
spoke's tunnel address: the hub routes it back out of the tunnel it came in on. Each case takes a
source network of its own, since redirects are rate-limited per (source, destination) network pair.
P3-03 (a hub with redirect off) needs a DUT configured without redirect, which no DUT description
expresses; it is not implemented.
"""

from __future__ import annotations

from dmvpn.conformance import CaseContext, case
from dmvpn.conformance.context import describe

from ._hub import (
    TRAFFIC,
    Spoke,
    check_indication,
    data_packet,
    forwarded_data,
    fresh_lan_host,
    indications_to,
    register_address,
    send_data,
    shared_spokes,
    to,
)

REQUIRES = ("redirect",)
CLAUSE = "draft-detienne-dmvpn-01 (Traffic Indication, Fig. 4); RFC 2784 §3"


def _hairpin(ctx: CaseContext, lan_registered: bool = True) -> tuple[Spoke, Spoke, str] | None:
    spokes = shared_spokes(ctx)
    if spokes is None:
        return None
    asker, target = spokes
    host = fresh_lan_host(ctx)
    if lan_registered and not register_address(ctx, asker, host, "the sending spoke's LAN host"):
        return None
    return asker, target, host


@case(
    "P3-01",
    clause=CLAUSE,
    level="MUST",
    role="hub",
    breakers=("no-redirect", "bad-checksum"),
    requirement="A data packet that enters and leaves the hub through the same tunnel (spoke to spoke) is "
    "forwarded to the destination's spoke, and the hub sends the source's spoke a Traffic Indication (type 8, "
    "code 0) from its own NBMA and protocol addresses, naming the data packet's source, with the data packet "
    "(at least its IP header and 8 bytes) as payload.",
    requires=REQUIRES,
)
def test_hairpin_is_forwarded_and_redirected(ctx: CaseContext) -> None:
    setup = _hairpin(ctx)
    if setup is None:
        return
    sender, target, host = setup
    inner = data_packet(host, target.proto)
    exchange = send_data(ctx, sender, inner, accept=to(ctx, sender.nbma, target.nbma), stop_after=2)
    forwarded = forwarded_data(exchange, target, inner)
    ctx.expect("data", bool(forwarded), "forwarded to the destination's spoke" if forwarded else "not forwarded", "forwarded to the destination's spoke")
    indications = indications_to(exchange, sender)
    others = [p for p in exchange.nhrp() if p.nhrp.op_type != TRAFFIC]
    if not indications:
        ctx.observe("Traffic Indication", False, describe(others[0]) if others else "no Traffic Indication", "Traffic Indication code 0")
        return
    check_indication(ctx, indications[0], host, inner)


@case(
    "P3-02",
    clause=CLAUSE,
    level="SHOULD",
    role="hub",
    breakers=("redirect-every-packet", "no-redirect"),
    requirement="Traffic Indications for one flow are rate-limited, not sent per packet: 20 hairpinned packets "
    "within 2 s draw at least one and at most 5 of them, and every packet is still forwarded.",
    requires=REQUIRES,
)
def test_redirects_are_rate_limited(ctx: CaseContext) -> None:
    setup = _hairpin(ctx)
    if setup is None:
        return
    sender, target, host = setup
    count = 20
    pace = min(0.1, ctx.window / 10)
    accept = to(ctx, sender.nbma, target.nbma)
    forwarded = indications = 0
    for seq in range(1, count + 1):
        inner = data_packet(host, target.proto, seq=seq)
        exchange = send_data(ctx, sender, inner, window=pace, accept=accept)
        forwarded += len(forwarded_data(exchange, target, inner))
        indications += len(indications_to(exchange, sender))
    tail = ctx.exchange([], accept=accept)  # what was still on its way
    forwarded += sum(1 for r in tail.replies if r.packet is not None and r.packet.nhrp is None and r.packet.outer_dst == target.nbma)
    indications += len(indications_to(tail, sender))
    ctx.expect("Traffic Indications", 1 <= indications <= 5, f"{indications} Traffic Indications for {count} packets", f"1 to 5 Traffic Indications for {count} packets")
    ctx.expect("data", forwarded >= count, f"{min(forwarded, count)} of {count} forwarded", f"{count} of {count} forwarded")


@case(
    "P3-04",
    clause=CLAUSE,
    level="SHOULD",
    role="hub",
    breakers=("redirect-any-source",),
    requirement="Hairpinned data whose source is not behind any registered spoke (no NBMA next hop for it) "
    "draws no Traffic Indication, not even to the spoke that sent it.",
    requires=REQUIRES,
)
def test_no_redirect_for_a_source_behind_no_spoke(ctx: CaseContext) -> None:
    setup = _hairpin(ctx, lan_registered=False)
    if setup is None:
        return
    sender, target, host = setup
    inner = data_packet(host, target.proto)
    exchange = send_data(ctx, sender, inner, window=ctx.quiet, accept=to(ctx, sender.nbma))
    indications = indications_to(exchange, sender)
    ctx.expect("no Traffic Indication", not indications, describe(indications[0]) if indications else "no Traffic Indication", "no Traffic Indication")
