"""IPv6 over an IPv4 NBMA (RFC 2332 §5.1, §5.2.0.1): the DUT as NHS with IPv6 protocol addresses.

Checklist §D.9, the hub rows that apply with an IPv4 underlay (V6-01, V6-04). The tester's IPv6
tunnel addresses are its IPv4 ones inside 2001:db8:ffff::/96 (`_hub.v6`); the DUT's own IPv6 tunnel
address is not part of the DUT description, so registrations name the registering station itself
as destination, which RFC 2332 §5.2.3 allows. Not implemented: V6-02 (a link-local protocol
address: the checklist only asks to record what happens, there is no requirement to hold it to)
and V6-03 (an IPv6 NBMA address needs an IPv6 underlay, which the tester's transport does not have).
"""

from __future__ import annotations

import ipaddress

from dmvpn.conformance import CaseContext, case
from dmvpn.conformance.context import describe
from dmvpn.wire import constants as C
from dmvpn.wire import templates as T

from ._hub import (
    REG_REQ,
    check_indication,
    data_packet,
    forwarded_data,
    indications_to,
    NAT,
    REG_REPLY,
    register_address,
    send_data,
    shared_spokes,
    Spoke,
    to,
    TRAFFIC,
    v6,
)


@case(
    "V6-01",
    clause="RFC 2332 §5.1 (ar$pro.type), §5.2.0.1, §5.2.3, §5.2.4",
    level="MUST",
    role="hub",
    breakers=("no-responder-address", "wrong-reqid"),
    requirement="A Registration Request with IPv6 protocol addresses over an IPv4 NBMA (ar$afn 1, ar$pro.type "
    "0x86DD, 16-byte protocol addresses, U set with prefix length 0xFF) is answered with a Registration Reply "
    "in the same form: same request ID, code 0, the 16-byte source fields unchanged, the Responder Address "
    "naming the NHS with a 16-byte protocol address.",
    requires=("ipv6",),
)
def test_ipv6_registration(ctx: CaseContext) -> None:
    nbma, proto4 = ctx.identity()
    proto = v6(proto4)
    reqid = ctx.dut.reqid_base()
    packet = ctx.packet(REG_REQ, (nbma, proto), reqid, dst_proto=proto, nhs=False, prefix_len=0xFF)
    reply = ctx.expect_reply(ctx.exchange(packet, accept=to(ctx, nbma), stop_after=1), REG_REPLY, reqid=reqid, codes=[0], to=nbma)
    same = (reply.pro_type, reply.src_proto_len, str(reply.src_nbma), str(reply.src_proto)) == (C.ProtocolType.IPV6, 16, nbma, proto)
    ctx.expect("IPv6 source fields", same, "IPv6 source fields unchanged" if same else f"protocol type 0x{reply.pro_type:04x}, source fields changed", "IPv6 source fields unchanged")
    responder = reply.extension(C.ExtensionType.RESPONDER_ADDRESS)
    cies = list(responder.cies or []) if responder is not None else []
    if not cies:
        observed = "no Responder Address"
    elif str(cies[0].client_nbma) != ctx.dut.info.nbma:
        observed = "Responder Address not naming the NHS"
    else:
        proto_len = len(cies[0].client_proto) if isinstance(cies[0].client_proto, bytes) else ipaddress.ip_address(cies[0].client_proto).max_prefixlen // 8
        observed = f"Responder Address naming the NHS with a {proto_len}-byte protocol address"
    ctx.expect("Responder Address", observed.endswith("16-byte protocol address"), observed, "Responder Address naming the NHS with a 16-byte protocol address")


@case(
    "V6-04",
    clause="draft-detienne-dmvpn-01 (Traffic Indication, Fig. 4); RFC 2784 §3",
    level="MUST",
    role="hub",
    breakers=("no-redirect",),
    requirement="Hairpinned IPv6 data (GRE protocol 0x86DD) between two spokes' IPv6 addresses is forwarded "
    "and draws a Traffic Indication in the IPv6 form: 16-byte protocol addresses, the data packet's IPv6 source "
    "as destination, the IPv6 header and 8 bytes of the packet as payload.",
    requires=("redirect", "ipv6"),
)
def test_ipv6_hairpin_redirect(ctx: CaseContext) -> None:
    spokes = shared_spokes(ctx)
    sender, target = spokes
    source, destination = v6(sender.proto), v6(target.proto)
    register_address(ctx, sender, source, "the sending spoke's IPv6 address")
    register_address(ctx, target, destination, "the target spoke's IPv6 address")
    inner = data_packet(source, destination)
    exchange = send_data(ctx, sender, inner, accept=to(ctx, sender.nbma, target.nbma), stop_after=2)
    forwarded = forwarded_data(exchange, Spoke(target.nbma, destination), inner)
    ctx.expect("data", bool(forwarded), "forwarded to the destination's spoke" if forwarded else "not forwarded", "forwarded to the destination's spoke")
    indications = indications_to(exchange, sender)
    if not indications:
        others = [p for p in exchange.nhrp() if p.nhrp.op_type != TRAFFIC]
        ctx.observe("Traffic Indication", False, describe(others[0]) if others else "no Traffic Indication", "Traffic Indication code 0")
        return
    check_indication(ctx, indications[0], source, inner, proto_len=16)
