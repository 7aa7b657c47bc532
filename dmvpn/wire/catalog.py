"""A catalogue of example packets: every message type and every extension, valid and broken.

`dmvpn craft --all` writes `valid_examples()`; the tests hold both lists against tshark. Addresses
are documentation NBMA ranges and the lab's overlay plan (hub 10.255.0.1, spokes 10.255.0.1x).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import GRE
from scapy.packet import Packet

from dmvpn.wire import constants as C
from dmvpn.wire.nhrp import (
    NHRP,
    NHRPCIE,
    NHRPErrorIndication,
    NHRPExtAuthentication,
    NHRPExtCiscoAuthentication,
    NHRPExtDeviceCapabilities,
    NHRPExtEnd,
    NHRPExtForwardTransit,
    NHRPExtNATAddress,
    NHRPExtResponderAddress,
    NHRPExtReverseTransit,
    NHRPExtUnknown,
    NHRPExtVendorPrivate,
    NHRPPurgeReply,
    NHRPPurgeRequest,
    NHRPRegistrationReply,
    NHRPRegistrationRequest,
    NHRPResolutionReply,
    NHRPResolutionRequest,
    NHRPTrafficIndication,
)

HUB_NBMA, HUB_PROTO = "192.0.2.1", "10.255.0.1"
SPOKE_NBMA, SPOKE_PROTO = "192.0.2.11", "10.255.0.11"
PEER_NBMA, PEER_PROTO = "192.0.2.12", "10.255.0.12"
GRE_KEY = 42
CISCO_OUI = 0x00000C


@dataclass
class Example:
    name: str
    packet: Packet  # IP/GRE/NHRP
    #: for broken examples: what is wrong, in a few words
    defect: str = ""


def in_gre(nhrp: Packet, src: str, dst: str, key: int = GRE_KEY) -> Packet:
    return IP(src=src, dst=dst, ttl=64) / GRE(key_present=1, key=key, proto=C.GRE_PROTO_NHRP) / nhrp


def _request_extensions(nhs_nbma: str = HUB_NBMA, nhs_proto: str = HUB_PROTO) -> list[Packet]:
    """Cisco's registration set: Responder/Forward/Reverse placeholders, auth, NAT ext, End."""
    return [
        NHRPExtResponderAddress(),
        NHRPExtForwardTransit(),
        NHRPExtReverseTransit(),
        NHRPExtCiscoAuthentication(password=b"DMVPN"),
        NHRPExtNATAddress(cies=[NHRPCIE(prefix_len=32, client_nbma=nhs_nbma, client_proto=nhs_proto)]),
        NHRPExtEnd(),
    ]


def registration_request(reqid: int = 1) -> NHRP:
    return NHRP(hopcnt=1) / NHRPRegistrationRequest(
        flags="U+NAT",
        reqid=reqid,
        src_nbma=SPOKE_NBMA,
        src_proto=SPOKE_PROTO,
        dst_proto=HUB_PROTO,
        cies=[NHRPCIE(prefix_len=32, mtu=1400, holding_time=C.NHRP_DEFAULT_HOLDING_TIME)],
        extensions=_request_extensions(),
    )


def valid_examples() -> list[Example]:
    """At least one valid packet of every type 1-8, together using every extension type."""
    hub_cie = NHRPCIE(prefix_len=32, mtu=1400, holding_time=7200, client_nbma=HUB_NBMA, client_proto=HUB_PROTO)
    peer_cie = NHRPCIE(
        prefix_len=24, mtu=1400, holding_time=600, client_nbma=PEER_NBMA, client_proto=PEER_PROTO, preference=255
    )
    reg_req = registration_request()
    reg_reply = NHRP(hopcnt=64) / NHRPRegistrationReply(
        flags="U+NAT",
        reqid=1,
        src_nbma=SPOKE_NBMA,
        src_proto=SPOKE_PROTO,
        dst_proto=HUB_PROTO,
        cies=[NHRPCIE(code=C.CieCode.SUCCESS, prefix_len=32, mtu=1400, holding_time=7200)],
        extensions=[
            NHRPExtResponderAddress(cies=[hub_cie]),
            NHRPExtForwardTransit(),
            NHRPExtReverseTransit(),
            NHRPExtCiscoAuthentication(password=b"DMVPN"),
            NHRPExtNATAddress(
                cies=[
                    NHRPCIE(prefix_len=32, client_nbma=HUB_NBMA, client_proto=HUB_PROTO),
                    NHRPCIE(prefix_len=32, client_nbma="198.51.100.7", client_proto=SPOKE_PROTO),
                ]
            ),
            NHRPExtEnd(),
        ],
    )
    reg_nak = NHRP(hopcnt=64) / NHRPRegistrationReply(
        flags="U",
        reqid=2,
        src_nbma="198.51.100.9",
        src_proto=SPOKE_PROTO,
        dst_proto=HUB_PROTO,
        cies=[NHRPCIE(code=C.CieCode.UNIQUE_ADDRESS_ALREADY_REGISTERED, prefix_len=255)],
        extensions=[NHRPExtResponderAddress(cies=[hub_cie]), NHRPExtEnd()],
    )
    res_req = NHRP(hopcnt=16) / NHRPResolutionRequest(
        flags="Q+A+S+NAT",
        reqid=0x1234,
        src_nbma=SPOKE_NBMA,
        src_proto=SPOKE_PROTO,
        dst_proto="10.112.0.10",
        cies=[NHRPCIE(prefix_len=255, mtu=1400, holding_time=600)],
        extensions=[
            NHRPExtResponderAddress(),
            NHRPExtForwardTransit(cies=[hub_cie]),
            NHRPExtReverseTransit(),
            NHRPExtVendorPrivate(vendor_id=CISCO_OUI, data=b"\x00\x01"),
            NHRPExtVendorPrivate(vendor_id=CISCO_OUI, data=b"\x00\x02"),
            NHRPExtEnd(),
        ],
    )
    res_reply = NHRP(hopcnt=64) / NHRPResolutionReply(
        flags="Q+A+D+U+S+NAT",
        reqid=0x1234,
        src_nbma=SPOKE_NBMA,
        src_proto=SPOKE_PROTO,
        dst_proto="10.112.0.10",
        cies=[peer_cie],
        extensions=[
            NHRPExtResponderAddress(cies=[NHRPCIE(mtu=1400, holding_time=600, client_nbma=PEER_NBMA, client_proto=PEER_PROTO)]),
            NHRPExtForwardTransit(cies=[hub_cie]),
            NHRPExtReverseTransit(),
            NHRPExtNATAddress(cies=[NHRPCIE(prefix_len=32, client_nbma=PEER_NBMA, client_proto=PEER_PROTO)]),
            NHRPExtEnd(),
        ],
    )
    res_nak = NHRP(hopcnt=64) / NHRPResolutionReply(
        flags="Q+S",
        reqid=0x1235,
        src_nbma=SPOKE_NBMA,
        src_proto=SPOKE_PROTO,
        dst_proto="10.255.0.99",
        cies=[NHRPCIE(code=C.CieCode.NO_BINDING_EXISTS, prefix_len=32)],
        extensions=[NHRPExtResponderAddress(cies=[hub_cie]), NHRPExtEnd()],
    )
    purge_req = NHRP(hopcnt=16) / NHRPPurgeRequest(
        reqid=77,
        src_nbma=HUB_NBMA,
        src_proto=HUB_PROTO,
        dst_proto=SPOKE_PROTO,
        cies=[NHRPCIE(prefix_len=32, client_nbma=PEER_NBMA, client_proto=PEER_PROTO)],
        extensions=[
            NHRPExtAuthentication(spi=0x0100, src_addr=HUB_PROTO, auth_data=bytes(range(16))),
            NHRPExtEnd(),
        ],
    )
    purge_noreply = NHRP(hopcnt=16) / NHRPPurgeRequest(
        flags="N",
        reqid=78,
        src_nbma=HUB_NBMA,
        src_proto=HUB_PROTO,
        dst_proto=SPOKE_PROTO,
        cies=[NHRPCIE(prefix_len=32, client_proto=PEER_PROTO)],
    )
    purge_reply = NHRP(hopcnt=16) / NHRPPurgeReply(
        reqid=77,
        src_nbma=HUB_NBMA,
        src_proto=HUB_PROTO,
        dst_proto=SPOKE_PROTO,
        cies=[NHRPCIE(prefix_len=32, client_nbma=PEER_NBMA, client_proto=PEER_PROTO)],
        extensions=[
            NHRPExtUnknown(type=0x0100, compulsory=0, value=b"\xde\xad\xbe\xef"),
            NHRPExtDeviceCapabilities(src_capabilities=1, dst_capabilities=0),
            NHRPExtEnd(),
        ],
    )
    offending = NHRP(hopcnt=1) / NHRPRegistrationRequest(
        flags="U",
        reqid=5,
        src_nbma=SPOKE_NBMA,
        src_proto=SPOKE_PROTO,
        dst_proto=HUB_PROTO,
        cies=[NHRPCIE(prefix_len=32, holding_time=7200)],
        extensions=[NHRPExtUnknown(type=0x0100, compulsory=1, value=b"\x00\x00\x00\x00"), NHRPExtEnd()],
    )
    error = NHRP(hopcnt=0) / NHRPErrorIndication(
        error_code=C.ErrorCode.UNRECOGNIZED_EXTENSION,
        error_offset=52,
        src_nbma=HUB_NBMA,
        src_proto=HUB_PROTO,
        dst_proto=SPOKE_PROTO,
        packet=offending,
    )
    hairpinned = IP(src="10.111.0.10", dst="10.112.0.10", ttl=63) / ICMP(id=1, seq=1) / (b"dmvpn" * 8)
    traffic = NHRP(hopcnt=1) / NHRPTrafficIndication(
        traffic_code=C.TrafficCode.REDIRECT,
        src_nbma=HUB_NBMA,
        src_proto=HUB_PROTO,
        dst_proto="10.111.0.10",
        packet=IP(bytes(hairpinned)[:28]),
        extensions=[NHRPExtCiscoAuthentication(password=b"DMVPN"), NHRPExtEnd()],
    )
    reg_v6 = NHRP(hopcnt=1) / NHRPRegistrationRequest(
        flags="U+NAT",
        reqid=3,
        src_nbma=SPOKE_NBMA,
        src_proto="2001:db8:ffff::11",
        dst_proto="2001:db8:ffff::1",
        cies=[NHRPCIE(prefix_len=128, mtu=1400, holding_time=7200)],
        extensions=[NHRPExtResponderAddress(), NHRPExtForwardTransit(), NHRPExtReverseTransit(), NHRPExtEnd()],
    )
    res_v6_nbma = NHRP(hopcnt=16) / NHRPResolutionRequest(
        flags="Q+A+S",
        reqid=4,
        src_nbma="2001:db8:1::11",
        src_proto=SPOKE_PROTO,
        dst_proto=PEER_PROTO,
        cies=[NHRPCIE(prefix_len=255, holding_time=600)],
        extensions=[NHRPExtResponderAddress(), NHRPExtEnd()],
    )
    return [
        Example("registration-request", in_gre(reg_req, SPOKE_NBMA, HUB_NBMA)),
        Example("registration-reply", in_gre(reg_reply, HUB_NBMA, SPOKE_NBMA)),
        Example("registration-reply-nak-14", in_gre(reg_nak, HUB_NBMA, "198.51.100.9")),
        Example("resolution-request", in_gre(res_req, SPOKE_NBMA, HUB_NBMA)),
        Example("resolution-reply", in_gre(res_reply, PEER_NBMA, SPOKE_NBMA)),
        Example("resolution-reply-nak-12", in_gre(res_nak, HUB_NBMA, SPOKE_NBMA)),
        Example("purge-request", in_gre(purge_req, HUB_NBMA, SPOKE_NBMA)),
        Example("purge-request-no-reply", in_gre(purge_noreply, HUB_NBMA, SPOKE_NBMA)),
        Example("purge-reply", in_gre(purge_reply, SPOKE_NBMA, HUB_NBMA)),
        Example("error-indication", in_gre(error, HUB_NBMA, SPOKE_NBMA)),
        Example("traffic-indication", in_gre(traffic, HUB_NBMA, "192.0.2.10")),
        Example("registration-request-ipv6-protocol", in_gre(reg_v6, SPOKE_NBMA, HUB_NBMA)),
        Example("resolution-request-ipv6-nbma", in_gre(res_v6_nbma, SPOKE_NBMA, HUB_NBMA)),
    ]


def _patch(nhrp_bytes: bytes, offset: int, fmt: str, value: int) -> bytes:
    data = bytearray(nhrp_bytes)
    struct.pack_into(fmt, data, offset, value)
    return bytes(data)


def broken_examples() -> list[Example]:
    """Deliberately broken variants of a valid Registration Request, one defect each."""
    good = bytes(registration_request(reqid=9))
    pktsz = len(good)
    chksum = struct.unpack_from("!H", good, 12)[0]

    def wrap(nhrp_bytes: bytes) -> Packet:
        return IP(src=SPOKE_NBMA, dst=HUB_NBMA, ttl=64) / GRE(key_present=1, key=GRE_KEY, proto=C.GRE_PROTO_NHRP) / nhrp_bytes

    def with_checksum(nhrp_bytes: bytes, pktsz_: int | None = None) -> bytes:
        """Recompute the checksum so that only the intended defect remains."""
        from dmvpn.wire.checksum import inet_checksum

        size = pktsz_ if pktsz_ is not None else struct.unpack_from("!H", nhrp_bytes, 10)[0]
        data = bytearray(nhrp_bytes)
        data[12:14] = b"\0\0"
        struct.pack_into("!H", data, 12, inet_checksum(bytes(data[:size])))
        return bytes(data)

    # The CIE starts right after the 8-byte common part and the three IPv4 addresses: cut the
    # packet inside the client addresses its header announces (8 bytes announced, 2 present).
    cie_offset = 20 + 8 + 4 + 4 + 4
    with_addresses = registration_request(reqid=9)
    with_addresses.payload.cies = [NHRPCIE(prefix_len=32, client_nbma=SPOKE_NBMA, client_proto=SPOKE_PROTO)]
    truncated_cie = bytes(with_addresses)[: cie_offset + 12 + 2]
    truncated_cie = _patch(truncated_cie, 10, "!H", len(truncated_cie))
    truncated_cie = _patch(truncated_cie, 14, "!H", 0)
    return [
        Example("bad-checksum", wrap(_patch(good, 12, "!H", chksum ^ 0x5A5A)), "ar$chksum wrong"),
        Example("extoff-past-end", wrap(with_checksum(_patch(good, 14, "!H", pktsz + 40))), "ar$extoff beyond ar$pktsz"),
        Example("pktsz-too-small", wrap(with_checksum(_patch(good, 10, "!H", 12), 20)), "ar$pktsz below the fixed header"),
        Example("truncated-cie", wrap(with_checksum(truncated_cie)), "packet ends inside a CIE"),
    ]
