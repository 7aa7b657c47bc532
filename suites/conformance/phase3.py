"""Phase 3 redirect at the DUT hub: hairpinned data and the Traffic Indication (draft-detienne-dmvpn-01).

Checklist §D.7, the hub rows (P3-01, P3-02, P3-04). The suite's requesting spoke sends data (GRE
protocol 0x0800) from a host on its LAN, an address it registered with the hub, to the target
spoke's tunnel address: the hub routes it back out of the tunnel it came in on. Each case takes a
source network of its own, since redirects are rate-limited per (source, destination) network pair.
P3-03 (a hub with redirect off) needs a DUT configured without redirect, which no DUT description
expresses; it is not implemented.

Phase 3 at the DUT spoke: Traffic Indication, shortcut, expiry, purge (draft-detienne-dmvpn-01 §4,
RFC 2332 §5.2.0.1, §5.2.1, §5.2.5, §6.2.1). The suite plays the hub (NHS) and the peer spokes.

Checklist §D.7 DUT-NHC rows P3-05, P3-06, P3-08..P3-11 and §D.6 PUR-04; NHC-07 (new) is the expiry
half of P3-10. Not here: P3-07 (needs a spoke with shortcuts off), P3-12 (the NHS must stay
silent until the spoke gives up on it: over 30 s with FRR's 1+2+4+8+16 s back-off).
"""

from __future__ import annotations

import ipaddress
import threading
import time

from dmvpn.conformance import CaseContext, case
from dmvpn.conformance.context import describe
from dmvpn.wire import constants as C, templates as T

from ._hub import (
    check_indication,
    data_packet,
    forwarded_data,
    fresh_lan_host,
    indications_to,
    reachable_via_hub,
    register_address,
    send_data,
    shared_spokes,
    Spoke,
    to,
    TRAFFIC,
)
from ._nhc import SHORTCUT_FLOW, ERROR, RES_REP, RES_REQ, flag_words, Rig

REQUIRES = ("redirect",)


CLAUSE = "draft-detienne-dmvpn-01 (Traffic Indication, Fig. 4); RFC 2784 §3"


def _hairpin(ctx: CaseContext, lan_registered: bool = True) -> tuple[Spoke, Spoke, str]:
    asker, target = shared_spokes(ctx)
    host = fresh_lan_host(ctx)
    if lan_registered:
        register_address(ctx, asker, host, "the sending spoke's LAN host")
    reachable_via_hub(ctx, asker, target)
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
    breakers=("redirect-every-packet", "no-redirect", "bad-checksum"),
    requirement="Traffic Indications for one flow are rate-limited, not sent per packet: 20 hairpinned packets "
    "within 2 s draw at least one and at most 5 of them, and every packet is still forwarded.",
    requires=REQUIRES,
)
def test_redirects_are_rate_limited(ctx: CaseContext) -> None:
    setup = _hairpin(ctx)
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
    sender, target, host = setup
    inner = data_packet(host, target.proto)
    exchange = send_data(ctx, sender, inner, window=ctx.quiet, accept=to(ctx, sender.nbma))
    indications = indications_to(exchange, sender)
    ctx.expect("no Traffic Indication", not indications, describe(indications[0]) if indications else "no Traffic Indication", "no Traffic Indication")


# -- the DUT as NHC (spoke): the suite plays the hub (NHS) and the peer spokes ---------------------------


NEEDS = SHORTCUT_FLOW


Q, A, S, U = C.ResolutionFlags.Q, C.ResolutionFlags.A, C.ResolutionFlags.S, C.ResolutionFlags.U


@case(
    "P3-05",
    clause="draft-detienne-dmvpn-01 §4; RFC 2332 §5.2.1",
    level="MUST",
    role="spoke",
    breakers=("ignore-ti", "bad-checksum"),
    requirement="A Traffic Indication from the hub about the spoke's packet makes the spoke send a Resolution "
    "Request for the inner packet's destination straight to its NHS: its own addresses as source, Q, A and S set, "
    "at most one CIE (prefix length 0xFF if U is set, a holding time only with S).",
    requires=NEEDS,
)
def test_traffic_indication_triggers_resolution(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    rig.register()
    info = ctx.dut.info
    target = rig.target()
    request = rig.solicit_resolution(target)
    if request is None:
        ctx.observe("Resolution Request for the inner destination", False, "no Resolution Request for the inner destination", "a Resolution Request for the inner destination")
        return
    view = request.nhrp
    ctx.observe("Resolution Request for the inner destination", True, "Resolution Request for the inner destination", "a Resolution Request for the inner destination")
    ctx.expect("sent to the NHS", request.outer_dst == rig.nhs_nbma, f"sent to {request.outer_dst}", f"sent to {rig.nhs_nbma}")
    source = (str(view.src_nbma), str(view.src_proto))
    ctx.expect("source addresses", source == (info.nbma, info.proto), f"source {source[0]}/{source[1]}", f"source {info.nbma}/{info.proto}")
    ctx.expect("flags", view.flags & (Q | A | S) == Q | A | S, f"flags {flag_words(view)}", "Q, A and S set")
    problems = []
    if len(view.cies) > 1:
        problems.append(f"{len(view.cies)} CIEs")
    for cie in view.cies:
        if view.flags & U and cie.prefix_len != 0xFF:
            problems.append(f"U set with CIE prefix length {cie.prefix_len}")
        if cie.holding_time and not view.flags & S:
            problems.append("a CIE holding time without S")
    ctx.expect("CIE", not problems, "; ".join(problems) if problems else f"{len(view.cies)} CIE(s) as required", "at most one CIE as required")
    ctx.expect("checksum", view.checksum_ok, "valid checksum" if view.checksum_ok else "bad checksum", "valid checksum")


def _installed(ctx: CaseContext, rig: Rig, peer: tuple[str, str], target: str, prefix_len: int) -> bool | None:
    """Observe the shortcut for `target` (/prefix_len via the peer); None when it cannot be read."""
    found = rig.wait_shortcut(target)
    if found is False:
        ctx.note("the DUT's shortcuts cannot be read: only the data path is checked")
        return None
    want = str(ipaddress.ip_network(f"{target}/{prefix_len}", strict=False))
    if not found:
        observed = "no shortcut"
    else:
        net = ipaddress.ip_network(found["prefix"], strict=False)
        via_ok = found.get("via") == peer[1] or found.get("nbma") == peer[0]
        observed = f"shortcut /{net.prefixlen}" + (" via the peer" if via_ok else " via another next hop")
    ok = bool(found) and observed == f"shortcut /{prefix_len} via the peer" and found["prefix"] == want
    ctx.expect("shortcut installed", ok, observed, f"shortcut /{prefix_len} via the peer")
    return ok


@case(
    "P3-06",
    clause="draft-detienne-dmvpn-01; RFC 2332 §2.2, §5.2.2",
    level="MUST",
    role="spoke",
    breakers=("data-via-nhs", "ignore-ti"),
    requirement="A Resolution Reply from the peer spoke (CIE prefix length 24) installs a shortcut for that /24 "
    "via the peer, and the spoke's data to it then goes in GRE directly to the peer's NBMA address.",
    requires=NEEDS + ("send-data",),
)
def test_reply_installs_a_shortcut_and_data_goes_direct(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    rig.register()
    peer, target = rig.peer(), rig.target()
    rig.shortcut_to(peer, target, prefix_len=24)
    _installed(ctx, rig, peer, target, 24)
    words = rig.path_words(rig.data_path(target), peer[0])
    ctx.expect("data path", words == "data sent directly to the peer's NBMA address", words, "data sent directly to the peer's NBMA address")


@case(
    "P3-08",
    clause="draft-detienne-dmvpn-01 §4; RFC 2332 §5.2.7",
    level="MUST",
    role="spoke",
    breakers=("resolve-garbage-ti", "crash-on-malformed"),
    requirement="A Traffic Indication whose payload is not an IPv4 packet (cut to 10 bytes; version 0; IHL below "
    "5, each with a routable address where the destination would be) resolves nothing, and the spoke stays alive.",
    requires=NEEDS,
)
def test_malformed_traffic_indication_is_ignored(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    rig.register()
    variants = {}  # bait address -> what was wrong with the payload
    packets = [rig.traffic_indication(payload=bytes(10))]  # cut below an IPv4 header: no address to bait
    for label, first_byte in (("version 0", b"\x05"), ("IHL 2", b"\x42")):
        bait = rig.target()  # where the destination would be: routable via the NHS
        variants[bait] = label
        packets.append(rig.traffic_indication(payload=first_byte + rig.inner(bait)[1:]))
    exchange = rig.send(packets, max(ctx.quiet, ctx.window), (RES_REQ,))
    resolved = sorted({variants.get(str(p.nhrp.dst_proto), "cut to 10 bytes") for p in exchange.nhrp(RES_REQ)})
    ctx.expect(
        "no resolution",
        not resolved,
        "resolved the payload of: " + ", ".join(resolved) if resolved else "silent discard",
        "silent discard",
    )
    rig.expect_alive()


@case(
    "P3-09",
    clause="draft-detienne-dmvpn-01 §4 (extensions may be present); RFC 2332 §5.3",
    level="MUST",
    role="spoke",
    breakers=("ti-extensions-dropped", "ignore-ti"),
    requirement="A Traffic Indication that carries extensions (Forward and Reverse Transit, NAT, End, as in "
    "captured Cisco traffic) is acted on like one without.",
    requires=NEEDS,
)
def test_traffic_indication_with_extensions(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    rig.register()
    info = ctx.dut.info
    extensions = [T.forward_transit(), T.reverse_transit()]
    if info.password is not None:
        extensions.append(T.cisco_auth(info.password))
    extensions += [T.nat_address(), T.end()]
    target = rig.target()
    request = rig.solicit_resolution(target, extensions=extensions)
    ctx.expect(
        "Resolution Request",
        request is not None,
        "Resolution Request for the inner destination" if request is not None else "no Resolution Request",
        "a Resolution Request for the inner destination",
    )


@case(
    "P3-10",
    clause="DMVPN Phase 3 practice (reference P3-10; FRR renews at 2/3 of the holding time); RFC 2332 §5.2.0.1",
    level="SHOULD",
    role="spoke",
    breakers=("no-renewal", "ignore-ti"),
    requirement="A shortcut in use (data to a host of its /24) is resolved again before its holding time runs out.",
    requires=NEEDS + ("send-data",),
)
def test_shortcut_in_use_is_renewed(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    rig.register()
    holding = int(ctx.dut.info.extra.get("renewal_holding_time", 10))
    peer, target = rig.peer(), rig.target()
    rig.shortcut_to(peer, target, holding_time=holding)
    start = time.monotonic()
    # Data every 0.2 s for the whole holding time keeps the /24 shortcut in use while we listen:
    # to another host of the prefix, as the resolved address itself may have a host binding of
    # its own (FRR 8.4 installs one, and traffic to it does not count as use of the shortcut).
    in_use = str(ipaddress.ip_network(f"{target}/24", strict=False)[20])
    sender = threading.Thread(target=ctx.dut.send_data, args=(in_use, int(holding / 0.2)), daemon=True)
    sender.start()
    renewal = rig.wait_for(holding, (RES_REQ,), lambda p: str(p.nhrp.dst_proto) == target)
    elapsed = time.monotonic() - start
    sender.join(timeout=holding + 15)
    if renewal is None:
        ctx.observe("renewal", False, "no re-resolution within the holding time", "a re-resolution before the holding time ran out")
        return
    ctx.note(f"re-resolution {elapsed:.1f} s after the reply (holding time {holding} s), sent to {renewal.outer_dst}")
    ctx.observe("renewal", True, "re-resolution before the holding time ran out", "a re-resolution before the holding time ran out")


@case(
    "P3-11",
    clause="RFC 2332 §5.2.2; FRR issue #4845",
    level="SHOULD",
    role="spoke",
    breakers=("mute-after-shortcut", "bad-checksum", "ignore-ti"),
    requirement="With a shortcut to a peer installed, the peer's own Resolution Request (sent directly) for an "
    "address behind the spoke is answered, to the peer.",
    requires=NEEDS,
)
def test_peer_with_shortcut_is_answered(ctx: CaseContext) -> None:
    rig = Rig(ctx)
    rig.register()
    peer, target = rig.peer(), rig.target()
    rig.shortcut_to(peer, target)
    rig.wait_shortcut(target)
    reqid = ctx.dut.reqid_base()
    packet = rig.forwarded_request(peer, rig.lan_address(12), reqid, direct=True)
    exchange = rig.send(packet, ctx.window, (RES_REP, ERROR), stop_after=1)
    ctx.expect_reply(exchange, RES_REP, reqid=reqid, codes=[0], to=peer[0])
