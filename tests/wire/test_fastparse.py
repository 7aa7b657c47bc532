"""The scapy-free reader agrees with the scapy layer, and rejects broken input with ParseError only."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmvpn.wire.catalog import broken_examples, valid_examples
from dmvpn.wire.fastparse import ParseError, parse_ipv4_gre, parse_nhrp
from dmvpn.wire.nhrp import NHRP, NHRPCIE, address_to_bytes

from .strategies import nhrp_packets


def _same_cie(fast, ref) -> None:
    assert (fast.code, fast.prefix_len, fast.mtu, fast.holding_time, fast.preference) == (
        ref.code, ref.prefix_len, ref.mtu, ref.holding_time, ref.preference)
    assert address_to_bytes(fast.client_nbma) == address_to_bytes(ref.client_nbma)
    assert address_to_bytes(fast.client_proto) == address_to_bytes(ref.client_proto)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(nhrp_packets(allow_subaddress=True))
def test_fast_reader_agrees_with_scapy(packet) -> None:
    data = bytes(packet)
    ref = NHRP(data)
    view = parse_nhrp(data)
    body = ref.payload
    assert view.checksum_ok and view.op_type == ref.op_type and view.pktsz == len(data)
    assert (view.flags, view.reqid) == (int(body.flags), body.reqid)
    for name in ("src_nbma", "src_proto", "dst_proto"):
        assert address_to_bytes(getattr(view, name)) == address_to_bytes(getattr(body, name))
    assert len(view.cies) == len(body.cies)
    for fast, slow in zip(view.cies, body.cies):
        _same_cie(fast, slow)
    assert [e.raw for e in view.extensions] == [bytes(e) for e in body.extensions]
    for fast, slow in zip(view.extensions, body.extensions):
        for f, s in zip(fast.cies or [], getattr(slow, "cies", [])):
            _same_cie(f, s)


def test_catalog_parses_and_indications_carry_payload() -> None:
    for example in valid_examples():
        gre = parse_ipv4_gre(bytes(example.packet))
        assert gre.gre_key == 42 and gre.nhrp is not None and gre.nhrp.checksum_ok
        if gre.nhrp.op_type in (7, 8):
            assert gre.nhrp.payload


def test_broken_examples_raise_parse_error_or_fail_checksum() -> None:
    for example in broken_examples():
        try:
            view = parse_ipv4_gre(bytes(example.packet)).nhrp
        except ParseError:
            continue
        assert not view.checksum_ok, example.name


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.binary(max_size=200))
def test_garbage_raises_only_parse_error(data) -> None:
    try:
        parse_nhrp(data)
    except ParseError:
        pass


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.binary(max_size=120))
def test_garbage_ip_raises_only_parse_error(tail) -> None:
    data = bytes([0x45]) + tail
    try:
        parse_ipv4_gre(data)
    except ParseError:
        pass
    try:
        parse_ipv4_gre(bytes([0x45, 0, 0, 0, 0, 0, 0, 0, 64, 47]) + tail)
    except ParseError:
        pass
