"""A scapy-free reader for IPv4/GRE/NHRP packets, for peers that must keep up with a DUT.

Reads what protocol state machines act on (type, request ID, addresses, CIEs, extensions, the
indication payload) in a few microseconds; the scapy layer stays the reference and the tests hold
the two to the same answers. Malformed input raises `ParseError`, never anything else.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

from dmvpn.wire import constants as C
from dmvpn.wire.checksum import inet_checksum

_FIXED = struct.Struct("!HH5sBHHHBBBB")
_COMMON = struct.Struct("!BBHI")
_CIE = struct.Struct("!BBHHHBBBB")


class ParseError(ValueError):
    """The bytes are not a well-formed IPv4/GRE/NHRP packet."""


def _addr(raw: bytes) -> str | bytes:
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw)
    if len(raw) == 16:
        return socket.inet_ntop(socket.AF_INET6, raw)
    return raw


@dataclass(slots=True)
class Cie:
    code: int
    prefix_len: int
    mtu: int
    holding_time: int
    client_nbma: str | bytes
    client_nbma_sub: bytes
    client_proto: str | bytes
    preference: int


@dataclass(slots=True)
class Extension:
    type: int
    compulsory: bool
    value: bytes
    cies: list[Cie] | None = None  # for the CIE-list extensions (3, 4, 5, 9)
    unused: bool = False  # the u bit (RFC 2332 §5.3: "must be set to zero"), kept so raw is exact

    @property
    def raw(self) -> bytes:
        word = self.type | (C.EXT_COMPULSORY if self.compulsory else 0) | (C.EXT_UNUSED if self.unused else 0)
        return struct.pack("!HH", word, len(self.value)) + self.value


@dataclass(slots=True)
class NhrpView:
    """One NHRP packet as a peer sees it."""

    op_type: int
    hopcnt: int
    afn: int
    pro_type: int
    pktsz: int
    checksum_ok: bool
    version: int
    shtl: int
    sstl: int
    src_proto_len: int
    dst_proto_len: int
    src_nbma: str | bytes
    src_proto: str | bytes
    dst_proto: str | bytes
    flags: int = 0
    reqid: int = 0
    code: int = 0  # error code (type 7) or traffic code (type 8)
    error_offset: int = 0
    cies: list[Cie] = field(default_factory=list)
    extensions: list[Extension] = field(default_factory=list)
    payload: bytes = b""  # the packet carried by an Error or Traffic Indication
    raw: bytes = b""

    def extension(self, ext_type: int) -> Extension | None:
        for ext in self.extensions:
            if ext.type == ext_type:
                return ext
        return None


@dataclass(slots=True)
class GrePacket:
    """The outer IPv4 and GRE headers, and the NHRP packet when the GRE protocol is 0x2001."""

    outer_src: str
    outer_dst: str
    ttl: int
    gre_key: int | None
    gre_proto: int
    payload: bytes
    nhrp: NhrpView | None
    gre_flags: int = 0  # the GRE header's first 16 bits: C/R/K/S, reserved bits, version (RFC 2784 §2)
    gre_checksum_ok: bool = True  # the GRE checksum verifies (always True when C = 0; RFC 2784 §2.5)
    gre_seq: int | None = None  # the RFC 2890 sequence number when S = 1

def _cies(data: bytes, start: int, end: int) -> list[Cie]:
    out = []
    offset = start
    while offset < end:
        if offset + 12 > end:
            raise ParseError(f"truncated CIE at offset {offset}")
        code, plen, _unused, mtu, ht, nbma_tl, sub_tl, proto_len, pref = _CIE.unpack_from(data, offset)
        nbma_len, sub_len = nbma_tl & C.TL_LEN_MASK, sub_tl & C.TL_LEN_MASK
        a = offset + 12
        b = a + nbma_len
        c = b + sub_len
        d = c + proto_len
        if d > end:
            raise ParseError(f"CIE addresses overrun at offset {offset}")
        out.append(Cie(code, plen, mtu, ht, _addr(data[a:b]), data[b:c], _addr(data[c:d]), pref))
        offset = d
    return out


def parse_nhrp(data: bytes) -> NhrpView:
    """Parse an NHRP packet starting at the fixed header."""
    if len(data) < C.NHRP_FIXED_HEADER_LEN:
        raise ParseError("shorter than the NHRP fixed header")
    afn, pro_type, _snap, hopcnt, pktsz, _chk, extoff, version, op_type, shtl, sstl = _FIXED.unpack_from(data)
    if pktsz < C.NHRP_FIXED_HEADER_LEN or pktsz > len(data):
        raise ParseError(f"ar$pktsz {pktsz} does not fit {len(data)} bytes")
    if extoff and not C.NHRP_FIXED_HEADER_LEN <= extoff <= pktsz:
        raise ParseError(f"ar$extoff {extoff} outside the packet")
    packet = data[:pktsz]
    mand_end = extoff or pktsz
    if mand_end < 28:
        raise ParseError("mandatory part shorter than its common header")
    src_len, dst_len, flags, reqid = _COMMON.unpack_from(packet, 20)
    nbma_len, sub_len = shtl & C.TL_LEN_MASK, sstl & C.TL_LEN_MASK
    a = 28
    b = a + nbma_len + sub_len
    c = b + src_len
    d = c + dst_len
    if d > mand_end:
        raise ParseError("addresses overrun the mandatory part")
    view = NhrpView(
        op_type=op_type,
        hopcnt=hopcnt,
        afn=afn,
        pro_type=pro_type,
        pktsz=pktsz,
        checksum_ok=inet_checksum(packet) == 0,
        version=version,
        shtl=shtl,
        sstl=sstl,
        src_proto_len=src_len,
        dst_proto_len=dst_len,
        src_nbma=_addr(packet[a : a + nbma_len]),
        src_proto=_addr(packet[b:c]),
        dst_proto=_addr(packet[c:d]),
        raw=packet,
    )
    if op_type in C.INDICATION_TYPES:
        view.code, view.error_offset = struct.unpack_from("!HH", packet, 24)
        view.payload = packet[d:mand_end]
    else:
        view.flags, view.reqid = flags, reqid
        view.cies = _cies(packet, d, mand_end)
    if extoff:
        offset = extoff
        while offset < pktsz:
            if offset + 4 > pktsz:
                raise ParseError(f"truncated extension header at offset {offset}")
            word, length = struct.unpack_from("!HH", packet, offset)
            if offset + 4 + length > pktsz:
                raise ParseError(f"extension at offset {offset} runs past the packet")
            ext_type = word & C.EXT_TYPE_MASK
            value = packet[offset + 4 : offset + 4 + length]
            ext = Extension(ext_type, bool(word & C.EXT_COMPULSORY), value, unused=bool(word & C.EXT_UNUSED))
            if ext_type in C.CIE_LIST_EXTENSIONS and not (ext_type == C.ExtensionType.NAT_ADDRESS and length == 8):
                ext.cies = _cies(packet, offset + 4, offset + 4 + length)
            view.extensions.append(ext)
            offset += 4 + length
            if ext_type == C.ExtensionType.END:
                break
    return view


def parse_ipv4_gre(data: bytes) -> GrePacket:
    """Parse an IPv4 packet carrying GRE; the NHRP part is parsed when the protocol is 0x2001."""
    if len(data) < 24 or data[0] >> 4 != 4:
        raise ParseError("not an IPv4 packet")
    ihl = (data[0] & 0x0F) * 4
    total = struct.unpack_from("!H", data, 2)[0] or len(data)
    if data[9] != C.IPPROTO_GRE:
        raise ParseError(f"IP protocol {data[9]} is not GRE")
    data = data[:total]
    if len(data) < ihl + 4:
        raise ParseError("truncated GRE header")
    flags, proto = struct.unpack_from("!HH", data, ihl)
    offset = ihl + 4
    checksum_ok = True
    if flags & C.GRE_FLAG_CHECKSUM:
        if len(data) < offset + 4:
            raise ParseError("truncated GRE checksum")
        checksum_ok = inet_checksum(data[ihl:]) == 0  # over the GRE header and payload (RFC 2784 §2.5)
        offset += 4
    key = None
    if flags & C.GRE_FLAG_KEY:
        if len(data) < offset + 4:
            raise ParseError("truncated GRE key")
        key = struct.unpack_from("!I", data, offset)[0]
        offset += 4
    seq = None
    if flags & C.GRE_FLAG_SEQUENCE:
        if len(data) < offset + 4:
            raise ParseError("truncated GRE sequence number")
        seq = struct.unpack_from("!I", data, offset)[0]
        offset += 4
    if offset > len(data):
        raise ParseError("truncated GRE header")
    payload = data[offset:]
    return GrePacket(
        outer_src=socket.inet_ntoa(data[12:16]),
        outer_dst=socket.inet_ntoa(data[16:20]),
        ttl=data[8],
        gre_key=key,
        gre_proto=proto,
        payload=payload,
        nhrp=parse_nhrp(payload) if proto == C.GRE_PROTO_NHRP else None,
        gre_flags=flags,
        gre_checksum_ok=checksum_ok,
        gre_seq=seq,
    )
