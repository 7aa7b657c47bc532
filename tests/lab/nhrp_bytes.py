"""Hand-built GRE + NHRP bytes for the lab tests (struct only, independent of dmvpn.wire).

The Registration Request is the 108-byte Cisco request of reference §A.15 (captured, GRE key 2)
with its addresses, request ID and holding time replaced and the checksum recomputed.
"""

from __future__ import annotations

import socket
import struct

# §A.15, NHRP part only (108 bytes).
A15_REGISTRATION_REQUEST = bytes.fromhex(
    "0001 0800 0000000000 ff 006c 197b 0034 01 03 04 00"
    "04 04 8002 00000001 a9fe6401 9b010001 9b010005"
    "00 20 0000 45f8 1c20 00 00 00 00"
    "8003 0000 8004 0000 8005 0000"
    "8007 000c 00000001 4e48525041555448"
    "0009 0014 00 20 0000 45f8 0000 04 00 04 00 a9fe6405 9b010005"
    "8000 0000".replace(" ", "")
)
assert len(A15_REGISTRATION_REQUEST) == 108

REGISTRATION_REQUEST, REGISTRATION_REPLY = 3, 4
GRE_FLAG_KEY = 0x2000
GRE_PROTO_NHRP = 0x2001


def rfc1071(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def registration_request(*, src_nbma: str, src_proto: str, nhs_nbma: str, nhs_proto: str,
                         request_id: int, holding_time: int = 7200) -> bytes:
    pkt = bytearray(A15_REGISTRATION_REQUEST)
    struct.pack_into("!I4s4s4s", pkt, 24, request_id, socket.inet_aton(src_nbma),
                     socket.inet_aton(src_proto), socket.inet_aton(nhs_proto))
    struct.pack_into("!H", pkt, 46, holding_time)  # the CIE's holding time
    struct.pack_into("!4s4s", pkt, 96, socket.inet_aton(nhs_nbma), socket.inet_aton(nhs_proto))  # NAT ext CIE
    struct.pack_into("!H", pkt, 12, 0)
    struct.pack_into("!H", pkt, 12, rfc1071(bytes(pkt)))
    return bytes(pkt)


def gre(payload: bytes, key: int | None, proto: int = GRE_PROTO_NHRP) -> bytes:
    if key is None:
        return struct.pack("!HH", 0, proto) + payload
    return struct.pack("!HHI", GRE_FLAG_KEY, proto, key) + payload


def split_ip_gre(datagram: bytes) -> tuple[str, str, int, int | None, bytes] | None:
    """IPv4 datagram from a raw socket -> (src, dst, GRE proto, key, payload), None if not GRE."""
    if len(datagram) < 24 or datagram[9] != 47:
        return None
    ihl = (datagram[0] & 0x0F) * 4
    flags, proto = struct.unpack_from("!HH", datagram, ihl)
    off = ihl + 4
    if flags & 0x8000:
        off += 4
    key = None
    if flags & GRE_FLAG_KEY:
        (key,) = struct.unpack_from("!I", datagram, off)
        off += 4
    if flags & 0x1000:
        off += 4
    return (socket.inet_ntoa(datagram[12:16]), socket.inet_ntoa(datagram[16:20]), proto, key,
            datagram[off:])


def nhrp_summary(nhrp: bytes) -> dict:
    """The fields the tests look at: type, pktsz, checksum ok, request id, addresses, first CIE code."""
    pktsz = struct.unpack_from("!H", nhrp, 10)[0]
    shtl, sstl = nhrp[18], nhrp[19]
    spl, dpl, flags, reqid = struct.unpack_from("!BBHI", nhrp, 20)
    o = 28
    src_nbma = nhrp[o:o + (shtl & 0x3F)]
    o += (shtl & 0x3F) + (sstl & 0x3F)
    src_proto = nhrp[o:o + spl]
    dst_proto = nhrp[o + spl:o + spl + dpl]
    cie = o + spl + dpl
    return {
        "type": nhrp[17], "pktsz": pktsz, "checksum_ok": rfc1071(nhrp[:pktsz]) == 0,
        "flags": flags, "request_id": reqid, "src_nbma": socket.inet_ntoa(src_nbma),
        "src_proto": socket.inet_ntoa(src_proto), "dst_proto": socket.inet_ntoa(dst_proto),
        "cie_code": nhrp[cie] if cie < pktsz else None, "hop_count": nhrp[9],
    }
