"""Tests of the scapy-free NHRP/GRE encoders and templates (dmvpn.wire.templates).

The oracle is the real captures in /work/shared/captures (tcpdump's test data, Cisco and a 2007
trace): the encoders must reproduce their IPv4 packets byte for byte. Templates are then checked
against the encoders with random field values.
"""

from __future__ import annotations

import ipaddress
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmvpn.wire.constants import ErrorCode, ExtensionType, PacketType
from dmvpn.wire.templates import (
    Cie,
    Extension,
    NhrpTemplate,
    cisco_auth,
    encode_ipv4_gre,
    encode_nhrp,
    end,
    error_indication,
    forward_transit,
    inet_checksum,
    nat_address,
    purge_reply,
    purge_request,
    registration_reply,
    registration_request,
    resolution_reply,
    resolution_request,
    responder_address,
    reverse_transit,
    rfc_auth,
    traffic_indication,
    vendor_private,
)

REPO = Path(__file__).resolve().parents[2]
CAPTURES = Path("/work/shared/captures")


# --------------------------------------------------------------------------------------------------
# helpers


def read_pcap(path: Path) -> list[bytes]:
    """Records of a classic little-endian pcap file (24-byte global header, 16-byte record headers)."""
    data = path.read_bytes()
    (magic,) = struct.unpack_from("<I", data, 0)
    assert magic == 0xA1B2C3D4, hex(magic)
    (linktype,) = struct.unpack_from("<I", data, 20)
    assert linktype == 1  # Ethernet
    off, records = 24, []
    while off < len(data):
        _sec, _usec, incl, _orig = struct.unpack_from("<IIII", data, off)
        off += 16
        records.append(data[off : off + incl])
        off += incl
    return records


def ipv4_packets(name: str) -> list[bytes]:
    """The IPv4 packets of a capture: Ethernet (14) and an optional 802.1Q tag (4) stripped."""
    out = []
    for frame in read_pcap(CAPTURES / name):
        l2 = 18 if frame[12:14] == b"\x81\x00" else 14
        assert frame[l2 - 2 : l2] == b"\x08\x00"
        ip = frame[l2:]
        (total,) = struct.unpack_from("!H", ip, 2)
        out.append(ip[:total])
    return out


def nhrp_of(ip: bytes) -> bytes:
    """The NHRP packet (ar$pktsz bytes) inside an IPv4/GRE packet."""
    ihl = (ip[0] & 0x0F) * 4
    (gre_flags,) = struct.unpack_from("!H", ip, ihl)
    gre_len = 4 + 4 * bool(gre_flags & 0x8000) + 4 * bool(gre_flags & 0x2000) + 4 * bool(gre_flags & 0x1000)
    nhrp = ip[ihl + gre_len :]
    (pktsz,) = struct.unpack_from("!H", nhrp, 10)
    return nhrp[:pktsz]


def rfc1071(data: bytes) -> int:
    """Textbook RFC 1071 (the oracle for the fast inet_checksum)."""
    if len(data) % 2:
        data += b"\0"
    s = 0
    for i in range(0, len(data), 2):
        s += (data[i] << 8) | data[i + 1]
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def assert_checksums_ok(ip: bytes) -> None:
    assert inet_checksum(ip[:20]) == 0
    assert inet_checksum(nhrp_of(ip)) == 0


CISCO_IP = dict(tos=0xC0, ttl=255)


# --------------------------------------------------------------------------------------------------
# checksum


def test_inet_checksum_rfc1071_example() -> None:
    # RFC 1071 §3 example: words 0001 f203 f4f5 f6f7 sum to 0xddf2 (after the end-around carry)
    assert inet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2


def test_inet_checksum_odd_length_pads_with_zero() -> None:
    assert inet_checksum(b"\x01") == 0xFEFF
    assert inet_checksum(b"\x12\x34\x56") == inet_checksum(b"\x12\x34\x56\x00")
    assert inet_checksum(b"") == 0xFFFF
    assert inet_checksum(bytes(7)) == 0xFFFF
    assert inet_checksum(b"\xff\xff") == 0  # folded sum 0xFFFF ("-0"), not 0


@given(st.binary(max_size=300))
def test_inet_checksum_matches_textbook(data: bytes) -> None:
    assert inet_checksum(data) == rfc1071(data)
    assert inet_checksum(bytearray(data)) == inet_checksum(memoryview(data)) == rfc1071(data)


def test_odd_length_nhrp_packet_checksum() -> None:
    # "CISCO" makes the auth extension 9 bytes long, hence an odd ar$pktsz
    nhrp = encode_nhrp(
        PacketType.REGISTRATION_REQUEST,
        src_nbma="192.0.2.1",
        src_proto="10.0.0.1",
        dst_proto="10.0.0.254",
        cies=[Cie(prefix_len=32, holding_time=7200)],
        extensions=[cisco_auth("CISCO")],
    )
    assert len(nhrp) % 2 == 1
    assert struct.unpack_from("!H", nhrp, 10)[0] == len(nhrp)
    zeroed = nhrp[:12] + b"\0\0" + nhrp[14:]
    assert struct.unpack_from("!H", nhrp, 12)[0] == rfc1071(zeroed + b"\0") == inet_checksum(zeroed)
    assert inet_checksum(nhrp) == 0


@pytest.mark.parametrize(
    "name", ["NHRP_registration.pcap", "NHRP-responder-address.pcap", "nhrp-trace.pcap"]
)
def test_every_capture_packet_has_valid_checksums(name: str) -> None:
    packets = ipv4_packets(name)
    assert packets
    for ip in packets:
        assert_checksums_ok(ip)
        assert rfc1071(nhrp_of(ip)) == 0


# --------------------------------------------------------------------------------------------------
# byte-exact reproduction of captures

REG_CIE = Cie(prefix_len=32, mtu=17912, holding_time=7200)
REG_NAT = nat_address([Cie(prefix_len=32, mtu=17912, client_nbma="169.254.100.5", client_proto="155.1.0.5")])
REG_COMMON = dict(
    src_nbma="169.254.100.1", src_proto="155.1.0.1", dst_proto="155.1.0.5", flags=0x8002, reqid=1, hopcnt=255
)


def test_registration_request_capture_packet_1() -> None:
    ip = ipv4_packets("NHRP_registration.pcap")[0]
    nhrp = encode_nhrp(
        PacketType.REGISTRATION_REQUEST,
        **REG_COMMON,
        cies=[REG_CIE],
        extensions=[
            responder_address(),
            forward_transit(),
            reverse_transit(),
            cisco_auth("NHRPAUTH"),
            REG_NAT,
            end(),
        ],
    )
    assert len(nhrp) == 108
    assert nhrp == nhrp_of(ip)
    built = encode_ipv4_gre(nhrp, src="169.254.100.1", dst="169.254.100.5", key=2, ip_id=0x0010, **CISCO_IP)
    assert built == ip


def test_registration_reply_capture_packet_2() -> None:
    ip = ipv4_packets("NHRP_registration.pcap")[1]
    responder = Cie(prefix_len=32, mtu=17912, holding_time=7200, client_nbma="169.254.100.5", client_proto="155.1.0.5")
    nhrp = encode_nhrp(
        PacketType.REGISTRATION_REPLY,
        **REG_COMMON,
        cies=[REG_CIE],
        extensions=[
            responder_address([responder]),
            forward_transit(),
            reverse_transit(),
            cisco_auth(b"NHRPAUTH"),
            REG_NAT,
            end(),
        ],
    )
    built = encode_ipv4_gre(nhrp, src="169.254.100.5", dst="169.254.100.1", key=2, ip_id=0x0010, **CISCO_IP)
    assert built == ip
    assert struct.unpack_from("!H", nhrp, 12)[0] == 0x060F  # the spec's A.15 value


def cisco_registration_templates() -> tuple[NhrpTemplate, NhrpTemplate]:
    common = dict(
        src_proto="155.1.0.1",
        dst_proto="155.1.0.5",
        gre_key=2,
        reqid=1,
        mtu=17912,
        password="NHRPAUTH",
        nhs_nbma="169.254.100.5",
        nhs_proto="155.1.0.5",
        ip_id=0x10,
        **CISCO_IP,
    )
    req = registration_request(outer_src="169.254.100.1", outer_dst="169.254.100.5", **common)
    rep = registration_reply(outer_src="169.254.100.5", outer_dst="169.254.100.1", **common)
    return req, rep


def test_convenience_registration_matches_capture_and_template_builds_next_pair() -> None:
    packets = ipv4_packets("NHRP_registration.pcap")
    req, rep = cisco_registration_templates()
    assert req.packet == packets[0]
    assert rep.packet == packets[1]
    assert req.build() == packets[0]
    # the second pair differs only by request ID and IP ID: incremental checksums must land on the capture
    assert req.build(reqid=2, ip_id=0x11) == packets[2]
    assert rep.build(reqid=2, ip_id=0x11) == packets[3]


def test_responder_address_capture() -> None:
    req_ip, rep_ip = ipv4_packets("NHRP-responder-address.pcap")
    common = dict(src_proto="155.1.0.9", dst_proto="155.1.0.6", gre_key=2, reqid=300, flags=0x0002,
                  mtu=17912, password="NHRPAUTH", nhs_nbma="6.6.6.6", nhs_proto="155.1.0.6", tos=0xC0)  # fmt: skip
    req = registration_request(outer_src="155.1.79.2", outer_dst="6.6.6.6", ttl=255, ip_id=0x2739, **common)
    assert req.packet == req_ip
    rep = registration_reply(
        outer_src="6.6.6.6",
        outer_dst="155.1.79.2",
        responder_proto="155.1.146.6",  # another of the NHS's addresses
        ttl=254,
        ip_id=0x4CF1,
        **common,
    )
    assert rep.packet == rep_ip


TRACE_HUB = ("192.168.200.1", "10.255.255.1")
TRACE_SPOKE3 = ("192.168.200.3", "10.255.255.3")
TRACE_SPOKE2 = ("192.168.200.2", "10.255.255.2")
TRACE_AUTH = cisco_auth("secret")
TRACE_TI_PAYLOAD = bytes.fromhex("45000064000500 00ff01a78f0affff030affff02 0800325b00010000".replace(" ", ""))


def trace_cie(station: tuple[str, str], prefix_len: int = 0) -> Cie:
    return Cie(prefix_len=prefix_len, mtu=1514, holding_time=7200, client_nbma=station[0], client_proto=station[1])


def test_trace_traffic_indication() -> None:
    ip = ipv4_packets("nhrp-trace.pcap")[0]
    assert len(TRACE_TI_PAYLOAD) == 28
    exts = [forward_transit(), reverse_transit(), TRACE_AUTH, nat_address(), end()]
    nhrp = encode_nhrp(
        PacketType.TRAFFIC_INDICATION,
        src_nbma=TRACE_HUB[0],
        src_proto=TRACE_HUB[1],
        dst_proto=TRACE_SPOKE3[1],
        traffic_code=0,
        payload=TRACE_TI_PAYLOAD,
        extensions=exts,
    )
    assert struct.unpack_from("!H", nhrp, 14)[0] == 0x44
    built = encode_ipv4_gre(nhrp, src=TRACE_HUB[0], dst=TRACE_SPOKE3[0], key=1000, ip_id=0x16, **CISCO_IP)
    assert built == ip
    t = traffic_indication(
        outer_src=TRACE_HUB[0],
        outer_dst=TRACE_SPOKE3[0],
        src_proto=TRACE_HUB[1],
        dst_proto=TRACE_SPOKE3[1],
        payload=TRACE_TI_PAYLOAD,
        gre_key=1000,
        ip_id=0x16,
        extensions=exts,
        **CISCO_IP,
    )
    assert t.packet == ip
    assert "traffic_code" in t.fields and "reqid" not in t.fields and "holding_time" not in t.fields


def test_trace_resolution_request_forwarded_and_reply() -> None:
    req_ip, fwd_ip, rep_ip = ipv4_packets("nhrp-trace.pcap")[1:]
    common = dict(src_nbma=TRACE_SPOKE3[0], src_proto=TRACE_SPOKE3[1], dst_proto=TRACE_SPOKE2[1], reqid=5)
    req_cie = Cie(mtu=1514, holding_time=7200)
    tail = [reverse_transit(), TRACE_AUTH, nat_address(), end()]

    nhrp = encode_nhrp(PacketType.RESOLUTION_REQUEST, flags=0xC802, cies=[req_cie],
                       extensions=[responder_address(), forward_transit(), *tail], **common)  # fmt: skip
    assert encode_ipv4_gre(nhrp, src=TRACE_SPOKE3[0], dst=TRACE_HUB[0], key=1000, ip_id=0x0E, **CISCO_IP) == req_ip
    req = resolution_request(
        outer_src=TRACE_SPOKE3[0],
        outer_dst=TRACE_HUB[0],
        src_proto=TRACE_SPOKE3[1],
        dst_proto=TRACE_SPOKE2[1],
        gre_key=1000,
        reqid=5,
        mtu=1514,
        password="secret",
        nat_cies=(),
        ip_id=0x0E,
        **CISCO_IP,
    )
    assert req.packet == req_ip

    # the hub forwards it: hop count - 1, its own CIE in the Forward Transit record
    nhrp = encode_nhrp(PacketType.RESOLUTION_REQUEST, flags=0xC802, hopcnt=254, cies=[req_cie],
                       extensions=[responder_address(), forward_transit([trace_cie(TRACE_HUB)]), *tail],
                       **common)  # fmt: skip
    assert encode_ipv4_gre(nhrp, src=TRACE_HUB[0], dst=TRACE_SPOKE2[0], key=1000, ip_id=0x18, **CISCO_IP) == fwd_ip

    # the egress spoke answers directly
    exts = [responder_address([trace_cie(TRACE_SPOKE2)]), forward_transit([trace_cie(TRACE_HUB)]), *tail]
    nhrp = encode_nhrp(PacketType.RESOLUTION_REPLY, flags=0xF802, cies=[trace_cie(TRACE_SPOKE2, 32)],
                       extensions=exts, **common)  # fmt: skip
    assert encode_ipv4_gre(nhrp, src=TRACE_SPOKE2[0], dst=TRACE_SPOKE3[0], key=1000, ip_id=0x14, **CISCO_IP) == rep_ip
    rep = resolution_reply(
        outer_src=TRACE_SPOKE2[0],
        outer_dst=TRACE_SPOKE3[0],
        src_proto=TRACE_SPOKE3[1],
        dst_proto=TRACE_SPOKE2[1],
        gre_key=1000,
        reqid=5,
        mtu=1514,
        extensions=exts,
        ip_id=0x14,
        **CISCO_IP,
    )
    assert rep.packet == rep_ip


# --------------------------------------------------------------------------------------------------
# encoder details


def test_extension_and_cie_encoding() -> None:
    assert end().encode() == bytes.fromhex("80000000")
    assert nat_address().encode() == bytes.fromhex("00090000")
    assert vendor_private(0x00000C, b"\x01\x02").encode() == bytes.fromhex("0008000500000c0102")
    assert rfc_auth(0x1234, "10.0.0.1", b"\xaa" * 16, reserved=0).encode() == (
        bytes.fromhex("80070018" "0000" "1234" "0a000001") + b"\xaa" * 16
    )
    assert Extension(ExtensionType.AUTHENTICATION, b"x", compulsory=False).encode() == b"\x00\x07\x00\x01x"
    cie = Cie(code=4, prefix_len=0xFF, mtu=1400, holding_time=0, client_nbma="2001:db8::1",
              client_nbma_sub=b"\x01", client_proto=ipaddress.IPv4Address("10.1.2.3"), preference=7)  # fmt: skip
    raw = cie.encode()
    assert raw[:12] == bytes.fromhex("04ff0000057800001001" "0407")
    assert raw[12:] == ipaddress.IPv6Address("2001:db8::1").packed + b"\x01" + bytes([10, 1, 2, 3])


def test_ipv6_defaults_and_gre_sequence() -> None:
    nhrp = encode_nhrp(1, src_nbma="2001:db8::1", src_proto="fd00::1", dst_proto="fd00::2")
    assert nhrp[:4] == bytes.fromhex("000286dd")
    assert nhrp[18:20] == b"\x10\x00"
    assert struct.unpack_from("!H", nhrp, 14)[0] == 0  # no extensions, extoff 0
    assert nhrp[20:22] == b"\x10\x10"
    ip = encode_ipv4_gre(nhrp, src="192.0.2.1", dst="192.0.2.2", key=7, seq=9, df=True, ip_id=3)
    assert ip[6:8] == b"\x40\x00" and ip[9] == 47
    assert ip[20:32] == bytes.fromhex("30002001" "00000007" "00000009")
    assert_checksums_ok(ip)
    assert encode_ipv4_gre(b"", src="192.0.2.1", dst="192.0.2.2")[20:24] == bytes.fromhex("00002001")


def test_error_indication_layout() -> None:
    offending = ipv4_packets("NHRP_registration.pcap")[0][28:]
    t = error_indication(ErrorCode.AUTHENTICATION_FAILURE, 0, outer_src="192.0.2.254", outer_dst="192.0.2.1",
                         src_proto="10.0.0.254", dst_proto="10.0.0.1", payload=offending)  # fmt: skip
    nhrp = t.packet[t.nhrp_offset :]
    assert nhrp[17] == 7 and struct.unpack_from("!H", nhrp, 14)[0] == 0
    assert nhrp[20:28] == bytes.fromhex("0404" "0000" "000b" "0000")
    assert nhrp[40:] == offending
    assert t.build(error_code=15, error_offset=9) == encode_ipv4_gre(
        encode_nhrp(7, src_nbma="192.0.2.254", src_proto="10.0.0.254", dst_proto="10.0.0.1",
                    error_code=15, error_offset=9, payload=offending),
        src="192.0.2.254", dst="192.0.2.1",
    )  # fmt: skip


def test_encoder_rejects_impossible_layouts() -> None:
    with pytest.raises(ValueError):
        encode_nhrp(7, src_nbma="1.1.1.1", src_proto="2.2.2.2", dst_proto="3.3.3.3", cies=[Cie()])
    with pytest.raises(ValueError):
        encode_nhrp(3, src_nbma="1.1.1.1", src_proto="2.2.2.2", dst_proto="3.3.3.3", payload=b"x")
    with pytest.raises(ValueError):
        encode_nhrp(3, src_nbma=b"\1\2\3", src_proto="2.2.2.2", dst_proto="3.3.3.3")  # afn unknown
    # ... unless told: malformed lengths are allowed on purpose
    nhrp = encode_nhrp(3, src_nbma=b"\1\2\3", src_proto="2.2.2.2", dst_proto="3.3.3.3", afn=1)
    assert nhrp[18] == 3
    with pytest.raises(ValueError):
        encode_nhrp(3, src_nbma="1.1.1.999", src_proto="2.2.2.2", dst_proto="3.3.3.3")


# --------------------------------------------------------------------------------------------------
# templates against encoders

ipv4_int = st.integers(0, 2**32 - 1)
ipv4_text = ipv4_int.map(lambda i: str(ipaddress.IPv4Address(i)))
ipv4_any = st.one_of(ipv4_text, ipv4_int.map(lambda i: i.to_bytes(4, "big")), ipv4_int)
u8, u16, u32 = st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)
ADDRESS_FIELDS = {"outer_src", "outer_dst", "src_nbma", "src_proto", "dst_proto"}
INT_FIELDS = {"ip_id": u16, "gre_key": u32, "reqid": u32, "flags": u16, "hopcnt": u8, "holding_time": u16,
              "traffic_code": u16, "error_code": u16, "error_offset": u16}  # fmt: skip


def as_text(value: object) -> str:
    if isinstance(value, int):
        return str(ipaddress.IPv4Address(value))
    if isinstance(value, bytes):
        return str(ipaddress.IPv4Address(value))
    return str(value)


BASE = dict(outer_src="192.0.2.10", outer_dst="192.0.2.1", src_nbma="192.0.2.10", src_proto="10.0.0.10",
            dst_proto="10.0.0.1", gre_key=42, reqid=7, hopcnt=255)  # fmt: skip
REPLY_EXTS = [responder_address([Cie(prefix_len=32, holding_time=7200, client_nbma="192.0.2.1", client_proto="10.0.0.1")]),
              forward_transit(), reverse_transit(), cisco_auth("CISCO"), end()]  # fmt: skip

# constructor, its fixed keyword arguments (everything a default would derive from a patched field is explicit)
CONSTRUCTORS = {
    "registration_request": (registration_request, dict(BASE, holding_time=7200, mtu=1400, password="CISCO",
                                                        nhs_nbma="192.0.2.1", nhs_proto="10.0.0.1")),
    "registration_reply": (registration_reply, dict(BASE, holding_time=7200, extensions=REPLY_EXTS)),
    "resolution_request": (resolution_request, dict(BASE, flags=0xC802, nat_cies=(), password="secret")),
    "resolution_reply": (resolution_reply, dict(BASE, responder_nbma="192.0.2.1", responder_proto="10.0.0.1",
                                                extensions=REPLY_EXTS)),
    "purge_request": (purge_request, dict(BASE, purge_proto="10.0.0.10", flags=0x8000)),
    "purge_reply": (purge_reply, dict(BASE, purge_proto="10.0.0.10", password="pw")),
    "traffic_indication": (traffic_indication, dict({k: v for k, v in BASE.items() if k != "reqid"},
                                                    payload=TRACE_TI_PAYLOAD[:27], password="secret")),
    "error_indication": (error_indication, dict({k: v for k, v in BASE.items() if k != "reqid"},
                                                error_code=7, error_offset=3, payload=TRACE_TI_PAYLOAD)),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CONSTRUCTORS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_build_equals_encoding_from_scratch(name: str, data: st.DataObject) -> None:
    make, kwargs = CONSTRUCTORS[name]
    template = make(**kwargs)
    assert template.build() == template.packet
    chosen = data.draw(st.sets(st.sampled_from(template.fields)), label="fields")
    values = {}
    for field in sorted(chosen):
        values[field] = data.draw(ipv4_any if field in ADDRESS_FIELDS else INT_FIELDS[field], label=field)
    built = template.build(**values)
    expected = make(**dict(kwargs, **{k: as_text(v) if k in ADDRESS_FIELDS else v for k, v in values.items()}))
    assert built == expected.packet
    assert_checksums_ok(built)
    # build_into: same bytes, written into a larger buffer at an offset, through a memoryview
    buf = bytearray(b"\xee" * (len(built) + 13))
    assert template.build_into(memoryview(buf), 5, **values) == len(built)
    assert bytes(buf[5 : 5 + len(built)]) == built
    assert buf[:5] == b"\xee" * 5 and buf[5 + len(built) :] == b"\xee" * 8


@settings(max_examples=150, deadline=None)
@given(
    op_type=st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 9]),
    v6=st.booleans(),
    key=st.one_of(st.none(), u32),
    seq=st.one_of(st.none(), u32),
    n_cies=st.integers(0, 2),
    password=st.one_of(st.none(), st.binary(max_size=9)),
    payload=st.binary(max_size=41),
    values=st.fixed_dictionaries(
        {},
        optional={"outer_src": ipv4_any, "outer_dst": ipv4_any, "ip_id": u16, "hopcnt": u8, "reqid": u32,
                  "flags": u16, "holding_time": u16, "src_nbma": ipv4_any, "gre_key": u32, "gre_seq": u32},
    ),  # fmt: skip
    patch_proto=st.booleans(),
    src_proto_int=st.integers(0, 2**128 - 1),
)
def test_generic_compile_build_against_encoders(
    op_type: int, v6: bool, key, seq, n_cies, password, payload, values, patch_proto, src_proto_int
) -> None:
    indication = op_type in (7, 8)
    proto_len = 16 if v6 else 4
    spec = dict(
        src_nbma="198.51.100.7",
        src_proto=b"\x0a" * proto_len,
        dst_proto=b"\x0b" * proto_len,
        flags=0x8002,
        reqid=1,
        hopcnt=64,
        cies=[] if indication else [Cie(prefix_len=32, holding_time=600 + i, client_proto=b"\x01" * i) for i in range(n_cies)],
        extensions=[] if password is None else [responder_address(), cisco_auth(password), end()],
        payload=payload if indication else b"",
        traffic_code=1 if op_type == 8 else 0,
        error_code=7 if op_type == 7 else 0,
    )  # fmt: skip
    outer = dict(src="198.51.100.7", dst="198.51.100.1", key=key, seq=seq, ip_id=5)
    template = NhrpTemplate.compile(
        op_type, outer_src=outer["src"], outer_dst=outer["dst"], gre_key=key, gre_seq=seq, ip_id=5, **spec
    )
    values = {k: v for k, v in values.items() if k in template.fields}
    if patch_proto:
        values["src_proto"] = src_proto_int.to_bytes(16, "big")[-proto_len:]
    built = template.build(**values)

    for k, v in values.items():
        if k in ("outer_src", "outer_dst"):
            outer[k[6:]] = as_text(v)
        elif k in ("gre_key", "gre_seq"):
            outer["key" if k == "gre_key" else "seq"] = v
        elif k == "ip_id":
            outer["ip_id"] = v
        elif k == "holding_time":
            spec["cies"] = [Cie(prefix_len=32, holding_time=v if i == 0 else 600 + i, client_proto=b"\x01" * i)
                            for i in range(n_cies)]  # fmt: skip
        elif k == "src_nbma":
            spec[k] = as_text(v)
        else:
            spec[k] = v
    expected = encode_ipv4_gre(encode_nhrp(op_type, **spec), **outer)
    assert built == expected
    assert_checksums_ok(built)
    assert ("holding_time" in template.fields) == (n_cies > 0 and not indication)
    assert ("gre_key" in template.fields) == (key is not None)


def test_incremental_checksum_zero_residue_falls_back_to_full_computation() -> None:
    """Choose reqid / ip_id so the one's complement sums become 0xFFFF (stored checksum 0x0000)."""
    t = resolution_request(outer_src="192.0.2.10", outer_dst="192.0.2.1", src_proto="10.0.0.10",
                           dst_proto="10.0.0.1", gre_key=42)  # fmt: skip
    base = t.build(reqid=0, ip_id=0)
    nhrp_sum = 0xFFFF - struct.unpack_from("!H", base, t.nhrp_offset + 12)[0]  # ~checksum
    ip_sum = 0xFFFF - struct.unpack_from("!H", base, 10)[0]
    reqid = (0xFFFF - nhrp_sum) % 0xFFFF  # reqid sits at an even distance from the end: weight 1
    ip_id = (0xFFFF - ip_sum) % 0xFFFF
    assert reqid and ip_id  # otherwise the template sums were already "0xFFFF"
    built = t.build(reqid=reqid, ip_id=ip_id)
    assert struct.unpack_from("!H", built, t.nhrp_offset + 12)[0] == 0
    assert struct.unpack_from("!H", built, 10)[0] == 0
    assert built == resolution_request(outer_src="192.0.2.10", outer_dst="192.0.2.1", src_proto="10.0.0.10",
                                       dst_proto="10.0.0.1", gre_key=42, reqid=reqid, ip_id=ip_id).packet  # fmt: skip
    assert_checksums_ok(built)


def test_fields_and_offsets() -> None:
    req, _ = cisco_registration_templates()
    assert set(req.fields) == {"outer_src", "outer_dst", "ip_id", "gre_key", "hopcnt", "flags", "reqid",
                               "src_nbma", "src_proto", "dst_proto", "holding_time"}  # fmt: skip
    offsets = req.offsets
    assert offsets["gre_key"] == (24, 4)
    assert offsets["reqid"] == (28 + 24, 4)
    assert offsets["holding_time"] == (28 + 40 + 6, 2)
    pkt = req.packet
    assert pkt[offsets["src_proto"][0] :][:4] == bytes([155, 1, 0, 1])
    assert len(req) == len(pkt) == 136
    no_key = registration_request(outer_src="1.1.1.1", outer_dst="2.2.2.2", src_proto="3.3.3.3", dst_proto="4.4.4.4")
    assert "gre_key" not in no_key.fields
    assert no_key.packet[20:24] == bytes.fromhex("00002001")


# --------------------------------------------------------------------------------------------------
# errors


def test_unknown_field_is_named() -> None:
    req, _ = cisco_registration_templates()
    with pytest.raises(ValueError, match="bogus"):
        req.build(bogus=1)
    t = traffic_indication(outer_src="1.1.1.1", outer_dst="2.2.2.2", src_proto="3.3.3.3", dst_proto="4.4.4.4",
                           payload=b"")  # fmt: skip
    with pytest.raises(ValueError, match="reqid"):
        t.build(reqid=1)
    with pytest.raises(ValueError, match="gre_key"):
        t.build(gre_key=1)


@pytest.mark.parametrize(
    "values",
    [
        {"src_proto": b"\1\2\3"},
        {"dst_proto": "2001:db8::1"},
        {"outer_src": b"\1\2\3\4\5"},
        {"src_nbma": 2**32},
    ],
)
def test_wrong_address_length(values: dict) -> None:
    req, _ = cisco_registration_templates()
    with pytest.raises(ValueError):
        req.build(**values)
    with pytest.raises(ValueError):
        req.build_into(bytearray(200), 0, **values)


def test_bad_values() -> None:
    req, _ = cisco_registration_templates()
    with pytest.raises(ValueError, match="reqid"):
        req.build(reqid=2**32)
    with pytest.raises(ValueError, match="hopcnt"):
        req.build(hopcnt=-1)
    with pytest.raises(ValueError):
        req.build(src_proto="10.0.0.300")
    with pytest.raises(ValueError, match="too small"):
        req.build_into(bytearray(len(req) - 1), 0)
    with pytest.raises(ValueError, match="too small"):
        req.build_into(bytearray(len(req) + 3), 4)


def test_ipv6_protocol_template_patch() -> None:
    t = resolution_request(outer_src="192.0.2.10", outer_dst="192.0.2.1", src_proto="fd00::10", dst_proto="fd00::1")
    assert t.offsets["src_proto"][1] == 16
    built = t.build(dst_proto="fd00::99", src_proto=ipaddress.IPv6Address("fd00::11"))
    expected = resolution_request(outer_src="192.0.2.10", outer_dst="192.0.2.1", src_proto="fd00::11",
                                  dst_proto="fd00::99")  # fmt: skip
    assert built == expected.packet
    with pytest.raises(ValueError):
        t.build(dst_proto="10.0.0.1")


# --------------------------------------------------------------------------------------------------
# isolation and speed


def test_import_does_not_pull_in_scapy() -> None:
    code = "import dmvpn.wire.templates, sys; assert not any(m.startswith('scapy') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


@pytest.mark.benchmark
def test_build_speed(benchmark) -> None:
    req, _ = cisco_registration_templates()
    out = benchmark(
        req.build, outer_src="10.1.2.3", src_nbma="10.1.2.3", src_proto="172.16.0.9", reqid=123456, holding_time=600
    )
    assert_checksums_ok(out)
