"""Hypothesis strategies for valid NHRP packets built with the scapy layer."""

from __future__ import annotations

import ipaddress

from hypothesis import strategies as st

from dmvpn.wire import nhrp as N

ipv4 = st.integers(0, 2**32 - 1).map(lambda i: str(ipaddress.IPv4Address(i)))
ipv6 = st.integers(0, 2**128 - 1).map(lambda i: str(ipaddress.IPv6Address(i)))
u8 = st.integers(0, 255)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)


@st.composite
def cies(draw, proto=ipv4, nbma=ipv4, allow_subaddress=False) -> N.NHRPCIE:
    return N.NHRPCIE(
        code=draw(st.sampled_from([0, 4, 5, 12, 13, 14])),
        prefix_len=draw(u8),
        mtu=draw(u16),
        holding_time=draw(u16),
        client_nbma=draw(st.one_of(st.just(b""), nbma)),
        client_nbma_sub=draw(st.binary(max_size=3)) if allow_subaddress else b"",
        client_proto=draw(st.one_of(st.just(b""), proto)),
        preference=draw(u8),
    )


@st.composite
def extensions(draw, proto=ipv4, nbma=ipv4) -> list:
    cie_list = st.lists(cies(proto=proto, nbma=nbma), max_size=2)
    choices = st.one_of(
        cie_list.map(lambda c: N.NHRPExtResponderAddress(cies=c)),
        cie_list.map(lambda c: N.NHRPExtForwardTransit(cies=c)),
        cie_list.map(lambda c: N.NHRPExtReverseTransit(cies=c)),
        cie_list.filter(lambda c: len(c) != 0 or True).map(lambda c: N.NHRPExtNATAddress(cies=c)),
        st.binary(min_size=0, max_size=8).map(lambda pw: N.NHRPExtCiscoAuthentication(password=pw)),
        st.tuples(st.integers(0, 0xFFFFFF), st.binary(max_size=6)).map(
            lambda t: N.NHRPExtVendorPrivate(vendor_id=t[0], data=t[1])
        ),
        st.tuples(st.integers(0x0100, 0x0FFF), st.booleans(), st.binary(max_size=6)).map(
            lambda t: N.NHRPExtUnknown(type=t[0], compulsory=int(t[1]), value=t[2])
        ),
    )
    exts = draw(st.lists(choices, max_size=5))
    return exts + [N.NHRPExtEnd()] if exts or draw(st.booleans()) else []


BODIES = [
    N.NHRPResolutionRequest,
    N.NHRPResolutionReply,
    N.NHRPRegistrationRequest,
    N.NHRPRegistrationReply,
    N.NHRPPurgeRequest,
    N.NHRPPurgeReply,
]


@st.composite
def nhrp_packets(draw, allow_ipv6: bool = True, allow_subaddress: bool = False) -> N.NHRP:
    """A well-formed NHRP packet of types 1-6 with random fields, CIEs and extensions."""
    proto = draw(st.sampled_from([ipv4, ipv6])) if allow_ipv6 else ipv4
    nbma = draw(st.sampled_from([ipv4, ipv6])) if allow_ipv6 else ipv4
    body_cls = draw(st.sampled_from(BODIES))
    body = body_cls(
        flags=draw(u16),
        reqid=draw(u32),
        src_nbma=draw(nbma),
        src_nbma_sub=draw(st.binary(max_size=3)) if allow_subaddress else b"",
        src_proto=draw(proto),
        dst_proto=draw(proto),
        cies=draw(st.lists(cies(proto=proto, nbma=nbma, allow_subaddress=allow_subaddress), max_size=3)),
        extensions=draw(extensions(proto=proto, nbma=nbma)),
    )
    return N.NHRP(hopcnt=draw(u8)) / body
