"""Real captures (../shared/captures) dissect and re-encode byte for byte, and agree with tshark."""

from __future__ import annotations

import pytest
from scapy.packet import Padding

from dmvpn.wire.decode import decode_nhrp
from dmvpn.wire.nhrp import NHRP
from dmvpn.wire.tshark import tshark_nhrp_fields
from dmvpn.wire.wireshark import wireshark_fields

from .pcaps import capture_files, nhrp_frames

FRAMES = [(path, index, data) for path in capture_files() for index, data in nhrp_frames(path)]
IDS = [f"{path.name}#{index + 1}" for path, index, _ in FRAMES]


def _strip_computed(packet: NHRP) -> None:
    """Forget every length, offset and checksum so that the layer must compute them again."""
    packet.afn = packet.pro_type = packet.pktsz = packet.chksum = packet.extoff = None
    packet.shtl = packet.sstl = None
    body = packet.payload
    body.src_proto_len = body.dst_proto_len = None
    cies = list(getattr(body, "cies", []))
    for ext in body.extensions:
        ext.len = None
        cies += list(getattr(ext, "cies", []))
    for cie in cies:
        cie.cli_addr_tl = cie.cli_saddr_tl = cie.cli_proto_len = None


def test_there_are_captures() -> None:
    assert len(FRAMES) >= 10


@pytest.mark.parametrize("path,index,data", FRAMES, ids=IDS)
def test_capture_decodes_cleanly(path, index, data) -> None:
    decoded = decode_nhrp(data)
    assert decoded.problems == []
    assert decoded.remainder == b""


@pytest.mark.parametrize("path,index,data", FRAMES, ids=IDS)
def test_capture_reencodes_from_fields(path, index, data) -> None:
    packet = NHRP(data)
    packet.clear_cache()  # build from the field values, not from the bytes scapy kept
    assert bytes(packet) == data


@pytest.mark.parametrize("path,index,data", FRAMES, ids=IDS)
def test_capture_reencodes_with_computed_lengths_and_checksum(path, index, data) -> None:
    packet = NHRP(data)
    packet.clear_cache()
    _strip_computed(packet)
    assert bytes(packet) == data


@pytest.mark.tshark
@pytest.mark.parametrize("path", capture_files(), ids=lambda p: p.name)
def test_capture_fields_equal_tshark(path) -> None:
    reference = tshark_nhrp_fields(path)
    frames = nhrp_frames(path)
    assert frames
    for index, data in frames:
        expected = {k: v for k, v in reference[index].items() if k.startswith("nhrp.")}
        assert expected, f"tshark printed no NHRP field for frame {index + 1}"
        assert wireshark_fields(NHRP(data), data) == expected, f"frame {index + 1}"


def test_traffic_indication_carries_the_hairpinned_packet() -> None:
    path = next(p for p in capture_files() if p.name == "nhrp-trace.pcap")
    _, data = nhrp_frames(path)[0]
    ti = NHRP(data)
    assert ti.op_type == 8
    inner = ti.payload.packet
    assert inner.src == "10.255.255.3" and inner.dst == "10.255.255.2"
    assert len(bytes(inner)) == 28
    assert not ti.haslayer(Padding)
