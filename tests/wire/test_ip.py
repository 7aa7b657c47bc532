"""dmvpn.wire.ip builds exactly scapy's bytes for IPv4, IPv6, GRE and ICMP echoes, for any generated fields."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import GRE, ICMP, IP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.packet import Raw

from dmvpn.wire import ip as W

from .strategies import ipv4, ipv6, u8, u16, u32

payloads = st.binary(max_size=64)


@settings(max_examples=200, deadline=None)
@given(src=ipv4, dst=ipv4, payload=payloads, proto=u8, ttl=u8, ident=u16, tos=u8, df=st.booleans())
def test_ipv4(src, dst, payload, proto, ttl, ident, tos, df) -> None:
    want = IP(src=src, dst=dst, proto=proto, ttl=ttl, id=ident, tos=tos, flags="DF" if df else 0) / Raw(payload)
    assert W.ipv4(src, dst, payload, proto, ttl=ttl, ident=ident, tos=tos, df=df) == bytes(want)


@settings(max_examples=100, deadline=None)
@given(src=ipv6, dst=ipv6, payload=payloads, nh=u8, hlim=u8)
def test_ipv6(src, dst, payload, nh, hlim) -> None:
    assert W.ipv6(src, dst, payload, nh, hop_limit=hlim) == bytes(IPv6(src=src, dst=dst, nh=nh, hlim=hlim, plen=len(payload)) / Raw(payload))


@settings(max_examples=300, deadline=None)
@given(
    payload=payloads, proto=u16, key=st.one_of(st.none(), u32), seq=st.one_of(st.none(), u32),
    checksum=st.one_of(st.none(), st.just("auto"), u16),
    strict=st.booleans(), recursion=st.integers(0, 7), reserved=st.integers(0, 31), version=st.integers(0, 7),
)
def test_gre(payload, proto, key, seq, checksum, strict, recursion, reserved, version) -> None:
    """Every header field scapy knows but the routing bit (R adds the Offset field in scapy)."""
    flags = 0x0800 * strict | recursion << 8 | reserved << 3
    want = GRE(
        chksum_present=checksum is not None, key_present=key is not None, seqnum_present=seq is not None,
        strict_route_source=strict, recursion_control=recursion, flags=reserved, version=version, proto=proto,
        chksum=None if checksum in (None, "auto") else checksum, key=key, sequence_number=seq,
    ) / Raw(payload)
    assert W.gre(payload, proto=proto, key=key, seq=seq, checksum=checksum, flags=flags, version=version) == bytes(want)


@settings(max_examples=200, deadline=None)
@given(ident=u16, seq=u16, data=payloads)
def test_icmp_echo(ident, seq, data) -> None:
    assert W.icmp_echo(ident, seq, data) == bytes(ICMP(type=8, id=ident, seq=seq) / Raw(data))


@settings(max_examples=100, deadline=None)
@given(ident=u16, seq=u16, data=payloads)
def test_icmpv6_echo_unchecked(ident, seq, data) -> None:
    assert W.icmp_echo(ident, seq, data, icmp_type=W.ICMPV6_ECHO, checksum=False) == bytes(ICMPv6EchoRequest(id=ident, seq=seq, data=data, cksum=0))


@settings(max_examples=100, deadline=None)
@given(src=ipv6, dst=ipv6, ident=u16, seq=u16, data=payloads)
def test_icmpv6_echo_in_ipv6_checksum_zero(src, dst, ident, seq, data) -> None:
    body = W.icmp_echo(ident, seq, data, icmp_type=W.ICMPV6_ECHO, checksum=False)
    assert W.ipv6(src, dst, body, 58) == bytes(IPv6(src=src, dst=dst) / ICMPv6EchoRequest(id=ident, seq=seq, data=data, cksum=0))
