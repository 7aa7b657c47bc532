"""The struct templates produce exactly the scapy layer's bytes, for any generated field values."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP
from scapy.layers.l2 import GRE

from dmvpn.wire import nhrp as N
from dmvpn.wire import templates as T

from .strategies import ipv4, u8, u16, u32

BODY = {
    1: N.NHRPResolutionRequest,
    2: N.NHRPResolutionReply,
    3: N.NHRPRegistrationRequest,
    4: N.NHRPRegistrationReply,
    5: N.NHRPPurgeRequest,
    6: N.NHRPPurgeReply,
}


@st.composite
def cie_pairs(draw):
    values = dict(
        code=draw(st.sampled_from([0, 4, 5, 12, 13, 14])),
        prefix_len=draw(u8),
        mtu=draw(u16),
        holding_time=draw(u16),
        client_nbma=draw(st.one_of(st.just(b""), ipv4)),
        client_proto=draw(st.one_of(st.just(b""), ipv4)),
        preference=draw(u8),
    )
    return T.Cie(**values), N.NHRPCIE(**values)


@st.composite
def extension_pairs(draw):
    kind = draw(st.sampled_from(["responder", "forward", "reverse", "nat", "cisco", "rfc", "vendor", "unknown", "end"]))
    pairs = draw(st.lists(cie_pairs(), max_size=2))
    t_cies, s_cies = [p[0] for p in pairs], [p[1] for p in pairs]
    if kind == "responder":
        return T.responder_address(t_cies), N.NHRPExtResponderAddress(cies=s_cies)
    if kind == "forward":
        return T.forward_transit(t_cies), N.NHRPExtForwardTransit(cies=s_cies)
    if kind == "reverse":
        return T.reverse_transit(t_cies), N.NHRPExtReverseTransit(cies=s_cies)
    if kind == "nat":
        return T.nat_address(t_cies), N.NHRPExtNATAddress(cies=s_cies)
    if kind == "cisco":
        pw = draw(st.binary(max_size=8))
        return T.cisco_auth(pw), N.NHRPExtCiscoAuthentication(password=pw)
    if kind == "rfc":
        spi, src, data = draw(u16), draw(ipv4), draw(st.binary(max_size=20))
        return T.rfc_auth(spi, src, data), N.NHRPExtAuthentication(spi=spi, src_addr=src, auth_data=data)
    if kind == "vendor":
        oui, data = draw(st.integers(0, 0xFFFFFF)), draw(st.binary(max_size=8))
        return T.vendor_private(oui, data), N.NHRPExtVendorPrivate(vendor_id=oui, data=data)
    if kind == "unknown":
        typ, c, value = draw(st.integers(0x100, 0x3FFF)), draw(st.booleans()), draw(st.binary(max_size=8))
        return T.Extension(typ, value, c), N.NHRPExtUnknown(type=typ, compulsory=int(c), value=value)
    return T.end(), N.NHRPExtEnd()


@st.composite
def packet_specs(draw):
    op_type = draw(st.integers(1, 6))
    common = dict(src_nbma=draw(ipv4), src_proto=draw(ipv4), dst_proto=draw(ipv4), flags=draw(u16), reqid=draw(u32))
    cies = draw(st.lists(cie_pairs(), min_size=1, max_size=3))
    exts = draw(st.lists(extension_pairs(), max_size=5))
    outer = dict(outer_src=draw(ipv4), outer_dst=draw(ipv4), gre_key=draw(st.one_of(st.none(), u32)), ttl=draw(u8), tos=draw(u8), ip_id=draw(u16))
    hopcnt = draw(u8)
    return op_type, common, cies, exts, outer, hopcnt


def _scapy(op_type, common, cies, exts, outer, hopcnt):
    gre = GRE(proto=0x2001) if outer["gre_key"] is None else GRE(key_present=1, key=outer["gre_key"], proto=0x2001)
    ip = IP(src=outer["outer_src"], dst=outer["outer_dst"], ttl=outer["ttl"], tos=outer["tos"], id=outer["ip_id"])
    body = BODY[op_type](cies=[c[1] for c in cies], extensions=[e[1] for e in exts], **common)
    return bytes(ip / gre / N.NHRP(hopcnt=hopcnt) / body)


def _template(op_type, common, cies, exts, outer, hopcnt):
    return T.NhrpTemplate.compile(
        op_type, cies=[c[0] for c in cies], extensions=[e[0] for e in exts], hopcnt=hopcnt, **common, **outer
    )


@settings(max_examples=300, deadline=None)
@given(packet_specs())
def test_compiled_template_equals_scapy(spec) -> None:
    assert _template(*spec).packet == _scapy(*spec)


@settings(max_examples=300, deadline=None)
@given(packet_specs(), ipv4, ipv4, ipv4, ipv4, u32, u16, u8, u16, st.one_of(st.none(), u32))
def test_patched_template_equals_scapy(spec, outer_src, src_nbma, src_proto, dst_proto, reqid, holding_time, hopcnt, flags, key) -> None:
    op_type, common, cies, exts, outer, _ = spec
    template = _template(*spec)
    patch = dict(outer_src=outer_src, src_nbma=src_nbma, src_proto=src_proto, dst_proto=dst_proto, reqid=reqid, holding_time=holding_time, hopcnt=hopcnt, flags=flags)
    if outer["gre_key"] is not None and key is not None:
        patch["gre_key"] = key
        outer = dict(outer, gre_key=key)
    built = template.build(**patch)
    cies = [(c[0], c[1].copy()) for c in cies]
    cies[0][1].holding_time = holding_time
    common = dict(common, src_nbma=src_nbma, src_proto=src_proto, dst_proto=dst_proto, reqid=reqid, flags=flags)
    assert built == _scapy(op_type, common, cies, exts, dict(outer, outer_src=outer_src), hopcnt)


@settings(max_examples=100, deadline=None)
@given(ipv4, ipv4, ipv4, st.integers(1, 65535), st.binary(min_size=20, max_size=60), st.sampled_from([7, 8]))
def test_indications_equal_scapy(src_nbma, src_proto, dst_proto, code, payload, op_type) -> None:
    if op_type == 7:
        template = T.NhrpTemplate.compile(7, outer_src="192.0.2.1", outer_dst="192.0.2.11", gre_key=42, src_nbma=src_nbma, src_proto=src_proto, dst_proto=dst_proto, error_code=code, error_offset=code ^ 0xFF, payload=payload)
        body = N.NHRPErrorIndication(error_code=code, error_offset=code ^ 0xFF, src_nbma=src_nbma, src_proto=src_proto, dst_proto=dst_proto, packet=payload)
    else:
        template = T.NhrpTemplate.compile(8, outer_src="192.0.2.1", outer_dst="192.0.2.11", gre_key=42, src_nbma=src_nbma, src_proto=src_proto, dst_proto=dst_proto, traffic_code=code, payload=payload)
        body = N.NHRPTrafficIndication(traffic_code=code, src_nbma=src_nbma, src_proto=src_proto, dst_proto=dst_proto, packet=payload)
    expected = IP(src="192.0.2.1", dst="192.0.2.11") / GRE(key_present=1, key=42, proto=0x2001) / N.NHRP() / body
    assert template.packet == bytes(expected)
