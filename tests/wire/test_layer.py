"""The scapy layer's own promises: RFC names and values, computed-unless-set fields, nesting."""

from __future__ import annotations

import struct

from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import GRE

from dmvpn.wire import constants as C
from dmvpn.wire.checksum import inet_checksum, nhrp_checksum_ok
from dmvpn.wire.nhrp import (
    NHRP,
    NHRPCIE,
    NHRPErrorIndication,
    NHRPExtCiscoAuthentication,
    NHRPExtEnd,
    NHRPExtUnknown,
    NHRPRegistrationRequest,
    NHRPTrafficIndication,
)


def _reg(**kw) -> NHRP:
    return NHRP(**kw) / NHRPRegistrationRequest(
        flags="U+NAT", reqid=1, src_nbma="192.0.2.11", src_proto="10.255.0.11", dst_proto="10.255.0.1",
        cies=[NHRPCIE(prefix_len=32, holding_time=7200)], extensions=[NHRPExtEnd()],
    )


def test_rfc_values_not_frr_values() -> None:
    assert C.CieCode.NO_BINDING_EXISTS == 12  # RFC 2332 §5.2.2 (FRR's header says 11)
    assert C.ErrorCode.LOOP_DETECTED == 3  # RFC 2332 §5.2.7 (FRR's header says 2)
    assert C.PacketType.TRAFFIC_INDICATION == 8


def test_flags_are_named_per_message_type() -> None:
    assert C.flag_names(C.PacketType.REGISTRATION_REQUEST, 0x8002) == ["U", "NAT"]
    assert C.flag_names(C.PacketType.RESOLUTION_REQUEST, 0xC802) == ["Q", "A", "S", "NAT"]
    assert C.flag_names(C.PacketType.PURGE_REQUEST, 0x8000) == ["N"]
    assert int(_reg().payload.flags) == 0x8002


def test_computed_fields() -> None:
    data = bytes(_reg())
    afn, pro, hop, pktsz, chk, extoff, ver, typ, shtl, sstl = struct.unpack("!HH5xBHHHBBBB", data[:20])
    assert (afn, pro, ver, typ, shtl, sstl) == (1, 0x0800, 1, 3, 4, 0)
    assert pktsz == len(data) and extoff == 20 + 8 + 12 + 12
    assert nhrp_checksum_ok(data)


def test_wrong_values_are_sent_as_given() -> None:
    data = bytes(_reg(pktsz=999, chksum=0x1234, extoff=7, shtl=6, afn=0x0F, version=2))
    assert struct.unpack("!H", data[10:12])[0] == 999
    assert struct.unpack("!H", data[12:14])[0] == 0x1234
    assert struct.unpack("!H", data[14:16])[0] == 7
    assert data[18] == 6 and data[16] == 2 and data[0:2] == b"\x00\x0f"


def test_odd_length_checksum_pads_with_zero() -> None:
    packet = _reg()
    packet.payload.extensions = [NHRPExtUnknown(type=0x100, compulsory=0, value=b"x"), NHRPExtEnd()]
    data = bytes(packet)
    assert len(data) % 2 == 1 and nhrp_checksum_ok(data)
    assert inet_checksum(data + b"\0") == 0


def test_unknown_extension_kept_byte_for_byte() -> None:
    raw_ext = b"\xb1\x23\x00\x03abc"  # C bit, u bit... type 0x3123, length 3
    packet = _reg()
    packet.payload.extensions = [NHRPExtEnd()]
    data = bytearray(bytes(packet))
    data[-4:-4] = raw_ext
    data[10:12] = struct.pack("!H", len(data))
    decoded = NHRP(bytes(data))
    assert bytes(decoded.payload.extensions[0]) == raw_ext
    decoded.clear_cache()
    assert bytes(decoded)[-11:-4] == raw_ext


def test_cisco_authentication_length_is_4_plus_password() -> None:
    ext = bytes(NHRPExtCiscoAuthentication(password=b"CISCO"))
    assert ext == b"\x80\x07\x00\x09\x00\x00\x00\x01CISCO"


def test_gre_binding_and_key() -> None:
    frame = IP(bytes(IP(src="192.0.2.11", dst="192.0.2.1") / GRE(key_present=1, key=42) / _reg()))
    assert frame[GRE].proto == C.GRE_PROTO_NHRP and frame[GRE].key == 42
    assert frame[NHRP].payload.reqid == 1


def test_error_indication_nests_the_offending_packet() -> None:
    offending = _reg()
    ei = NHRP(hopcnt=0) / NHRPErrorIndication(error_code=C.ErrorCode.PROTOCOL_ERROR, error_offset=12, src_nbma="192.0.2.1", src_proto="10.255.0.1", dst_proto="10.255.0.11", packet=offending)
    parsed = NHRP(bytes(ei))
    assert parsed.payload.error_code == 7
    assert isinstance(parsed.payload.packet, NHRP)
    assert parsed.payload.packet.payload.reqid == 1
    assert parsed.extoff == 0  # RFC 2332 §5.2.7: no extensions


def test_traffic_indication_nests_the_data_packet() -> None:
    data = IP(src="10.111.0.10", dst="10.112.0.10") / ICMP()
    ti = NHRP() / NHRPTrafficIndication(src_nbma="192.0.2.1", src_proto="10.255.0.1", dst_proto="10.111.0.10", packet=data)
    parsed = NHRP(bytes(ti))
    assert parsed.payload.packet[IP].dst == "10.112.0.10"
    assert parsed.payload.traffic_code == C.TrafficCode.REDIRECT


def test_ipv6_protocol_and_nbma_addresses() -> None:
    packet = NHRP() / NHRPRegistrationRequest(src_nbma="2001:db8::11", src_proto="2001:db8:ffff::11", dst_proto="2001:db8:ffff::1", cies=[NHRPCIE(prefix_len=128)])
    parsed = NHRP(bytes(packet))
    assert (parsed.afn, parsed.pro_type, parsed.shtl) == (2, 0x86DD, 16)
    assert parsed.payload.src_proto == "2001:db8:ffff::11" and parsed.payload.src_proto_len == 16


def test_reply_answers_request() -> None:
    from dmvpn.wire.nhrp import NHRPRegistrationReply

    reply = NHRP() / NHRPRegistrationReply(reqid=1, src_nbma="192.0.2.11", src_proto="10.255.0.11", dst_proto="10.255.0.1")
    assert reply.answers(_reg())
    reply.payload.reqid = 2
    assert not reply.answers(_reg())


def test_checksum_adjust_equals_recomputation() -> None:
    from dmvpn.wire.checksum import checksum_adjust

    data = bytearray(bytes(_reg()))
    old = (data[16] << 8) | data[17]
    data[17] = 4  # Registration Request -> Reply
    stored = struct.unpack_from("!H", data, 12)[0]
    struct.pack_into("!H", data, 12, checksum_adjust(stored, old, (data[16] << 8) | data[17]))
    assert nhrp_checksum_ok(bytes(data))
