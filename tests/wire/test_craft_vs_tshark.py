"""What `dmvpn craft` writes is what Wireshark's dissector reads, field for field."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP
from scapy.layers.l2 import GRE
from scapy.utils import wrpcap

from dmvpn.wire.catalog import broken_examples, valid_examples
from dmvpn.wire.cli import gre_header_len, ip_payload
from dmvpn.wire.decode import decode_nhrp
from dmvpn.wire.nhrp import NHRP, NHRPCIE, address_to_bytes
from dmvpn.wire.tshark import tshark_nhrp_fields
from dmvpn.wire.wireshark import wireshark_fields

from .strategies import nhrp_packets

pytestmark = pytest.mark.tshark

BROKEN_MARKERS = ("malformed", "Bad checksum", "less than the fixed header", "Extension offset")


def _nhrp_bytes(packet) -> bytes:
    gre = IP(bytes(packet)).getlayer(GRE)
    return ip_payload(gre.underlayer)[gre_header_len(gre) :]


def _tshark_problems(frame: dict) -> list[str]:
    problems = list(frame.get("_ws.expert.message", []))
    if "_ws.malformed" in frame:
        problems.append("malformed")
    return problems


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    path = tmp_path_factory.mktemp("craft") / "all.pcap"
    subprocess.run(
        [sys.executable, "-m", "dmvpn.cli", "craft", "--all", "--broken", "-o", str(path)],
        check=True,
        capture_output=True,
    )
    return path, tshark_nhrp_fields(path)


def test_craft_all_covers_every_type_and_extension() -> None:
    packets = [NHRP(_nhrp_bytes(e.packet)) for e in valid_examples()]
    assert {p.op_type for p in packets} == set(range(1, 9))
    ext_types = {(bytes(ext)[0] << 8 | bytes(ext)[1]) & 0x3FFF for p in packets for ext in p.payload.extensions}
    assert {0, 3, 4, 5, 7, 8, 9}.issubset(ext_types)
    assert any(ext_types - {0, 3, 4, 5, 7, 8, 9, 10})  # an unknown type kept byte for byte
    auth_forms = {type(e).__name__ for p in packets for e in p.payload.extensions if "Authentication" in type(e).__name__}
    assert auth_forms == {"NHRPExtCiscoAuthentication", "NHRPExtAuthentication"}
    assert all(e.packet[GRE].key_present and e.packet[GRE].key == 42 for e in valid_examples())


def test_crafted_valid_packets_are_clean_and_equal_tshark(crafted) -> None:
    path, reference = crafted
    valid = valid_examples()
    for index, example in enumerate(valid):
        frame = reference[index]
        assert _tshark_problems(frame) == [], f"{example.name}: tshark says {_tshark_problems(frame)}"
        assert set(frame.get("nhrp.hdr.chksum.status")) == {1}, example.name  # nested packets too
        data = _nhrp_bytes(example.packet)
        expected = {k: v for k, v in frame.items() if k.startswith("nhrp.")}
        assert wireshark_fields(NHRP(data), data) == expected, example.name
        assert decode_nhrp(data).problems == [], example.name


def test_broken_variants_are_flagged_by_tshark_and_by_decode(crafted) -> None:
    path, reference = crafted
    offset = len(valid_examples())
    for index, example in enumerate(broken_examples()):
        frame = reference[offset + index]
        problems = _tshark_problems(frame)
        assert any(m in p for p in problems for m in BROKEN_MARKERS), f"{example.name}: tshark saw {problems}"
        assert decode_nhrp(_nhrp_bytes(example.packet)).malformed, example.name


def _tshark_view_of_subaddress_bug(fields: dict, packet: NHRP) -> dict:
    """Wireshark 4.0 does not step over a CIE's NBMA subaddress before the protocol address.

    It reads the client protocol address from where the subaddress starts. We report the real
    address; this reproduces Wireshark's reading so the rest of the comparison stays exact.
    """
    cies = list(packet.payload.cies) + [c for e in packet.payload.extensions for c in getattr(e, "cies", [])]
    if not any(address_to_bytes(c.client_nbma_sub) for c in cies if isinstance(c, NHRPCIE)):
        return fields
    fields = {k: list(v) for k, v in fields.items()}
    fields.pop("nhrp.client.prot.addr", None)
    fields.pop("nhrp.client.prot.addr_bytes", None)
    for cie in cies:
        raw = bytes(cie)
        nbma_len = len(address_to_bytes(cie.client_nbma))
        proto_len = cie.cli_proto_len or 0
        if proto_len:
            misread = raw[12 + nbma_len : 12 + nbma_len + proto_len]
            if len(misread) == 4:
                fields.setdefault("nhrp.client.prot.addr", []).append(".".join(map(str, misread)))
            else:
                fields.setdefault("nhrp.client.prot.addr_bytes", []).append(misread.hex())
    return fields


@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(nhrp_packets(allow_subaddress=True), min_size=150, max_size=150))
def test_random_valid_packets_equal_tshark(tmp_path_factory, packets) -> None:
    """150 random packets (all types 1-6, IPv4/IPv6 in both roles, every extension) in one tshark run."""
    path = tmp_path_factory.mktemp("random") / "random.pcap"
    frames = [IP(src="192.0.2.11", dst="192.0.2.1") / GRE(key_present=1, key=42, proto=0x2001) / p for p in packets]
    wrpcap(str(path), frames)
    reference = tshark_nhrp_fields(path)
    for index, packet in enumerate(packets):
        data = bytes(packet)
        mine = _tshark_view_of_subaddress_bug(wireshark_fields(NHRP(data), data), NHRP(data))
        expected = {k: v for k, v in reference[index].items() if k.startswith("nhrp.")}
        assert mine == expected, f"packet {index}: {packet.payload.name}"
