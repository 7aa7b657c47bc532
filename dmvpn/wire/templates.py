"""Scapy-free NHRP-in-IPv4/GRE packet building: byte-exact encoders and fast patchable templates.

Why this exists: the scapy NHRP layer is the reference for conformance tests, but building a packet
through scapy costs hundreds of microseconds, and TRex profile processes import their own, older
scapy. This module uses only the standard library and `dmvpn.wire.constants`, so it can be imported
anywhere, and `NhrpTemplate.build` makes a complete packet (both checksums right) in a few
microseconds, for load generation (registration storms, request-ID sweeps, many fake spokes).

Layers:
  * `inet_checksum`                      RFC 1071 checksum (IPv4 header, RFC 2332 §5.1 NHRP checksum)
  * `Cie`, `Extension` + helpers         plain data for CIEs (RFC 2332 §5.2.0.1) and extensions (§5.3)
  * `encode_nhrp`, `encode_ipv4_gre`     exact wire bytes from plain values (no validation beyond
                                         what struct needs: malformed values are allowed on purpose)
  * `NhrpTemplate`                       a compiled packet plus the byte offsets of the fields a load
                                         generator varies; `build(**values)` patches them
  * `registration_request` & co.         thin DMVPN-flavoured constructors returning templates

Addresses are accepted as text (IPv4 or IPv6, via socket.inet_pton), as raw bytes (any length, so
malformed packets can be made) or as `ipaddress` objects. `NhrpTemplate.build` also takes ints.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

from dmvpn.wire.checksum import inet_checksum
from dmvpn.wire.constants import (
    CISCO_AUTH_PLAINTEXT,
    EXT_COMPULSORY,
    GRE_FLAG_KEY,
    GRE_FLAG_SEQUENCE,
    GRE_PROTO_NHRP,
    INDICATION_TYPES,
    IPPROTO_GRE,
    NHRP_DEFAULT_HOLDING_TIME,
    NHRP_VERSION,
    AddressFamily,
    ExtensionType,
    PacketType,
    ProtocolType,
    RegistrationFlags,
    ResolutionFlags,
)

__all__ = [
    "Address",
    "Cie",
    "Extension",
    "NhrpTemplate",
    "cisco_auth",
    "encode_ipv4_gre",
    "encode_nhrp",
    "end",
    "error_indication",
    "forward_transit",
    "inet_checksum",
    "nat_address",
    "purge_reply",
    "purge_request",
    "registration_reply",
    "registration_request",
    "resolution_reply",
    "resolution_request",
    "responder_address",
    "reverse_transit",
    "rfc_auth",
    "traffic_indication",
    "vendor_private",
]

#: An address as the encoders accept it: text, raw bytes, or an ipaddress object (anything `.packed`).
Address = Union[str, bytes, bytearray, memoryview, ipaddress.IPv4Address, ipaddress.IPv6Address]

_FIXED = struct.Struct("!HH5sBHHHBBBB")  # RFC 2332 §5.1, 20 bytes
_COMMON = struct.Struct("!BBHI")  # §5.2.0.1: src/dst proto len, flags, request ID
_INDICATION = struct.Struct("!BBHHH")  # §5.2.7 / draft-detienne Fig. 4: lens, unused, code, offset|unused
_CIE = struct.Struct("!BBHHHBBBB")  # §5.2.0.1, 12 bytes
_EXT = struct.Struct("!HH")  # §5.3
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_H = struct.Struct("!H")
_I = struct.Struct("!I")
_B = struct.Struct("!B")

_GRE_PROTO_OFFSET = 2
_IP_HEADER_LEN = 20
_IP_CHECKSUM_OFFSET = 10
_NHRP_CHECKSUM_OFFSET = 12


# --------------------------------------------------------------------------------------------------
# Checksum


# --------------------------------------------------------------------------------------------------
# Addresses


def _addr(value: Address) -> bytes:
    """Wire bytes of an address: text via inet_pton (':' means IPv6), bytes as they are."""
    if isinstance(value, str):
        family = socket.AF_INET6 if ":" in value else socket.AF_INET
        try:
            return socket.inet_pton(family, value)
        except OSError:
            raise ValueError(f"not an IPv4/IPv6 address: {value!r}") from None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    packed = getattr(value, "packed", None)
    if isinstance(packed, bytes):
        return packed
    raise TypeError(f"address must be str, bytes or an ipaddress object, not {type(value).__name__}")


# --------------------------------------------------------------------------------------------------
# CIEs and extensions


@dataclass
class Cie:
    """One Client Information Entry (RFC 2332 §5.2.0.1).

    The three address lengths on the wire are the lengths of the given addresses, so raw bytes of any
    length make malformed CIEs. A Registration Request may send all three empty, meaning "take the
    client information from the common header" (§5.2.3), which is what Cisco, FRR and opennhrp do.
    """

    code: int = 0
    prefix_len: int = 0
    mtu: int = 0
    holding_time: int = 0
    client_nbma: Address = b""
    client_nbma_sub: Address = b""
    client_proto: Address = b""
    preference: int = 0

    def encode(self) -> bytes:
        """Wire bytes: code, prefix len, unused(2)=0, MTU, holding time, 3 lengths, preference, addresses."""
        nbma = _addr(self.client_nbma)
        sub = _addr(self.client_nbma_sub)
        proto = _addr(self.client_proto)
        return (
            _CIE.pack(
                self.code,
                self.prefix_len,
                0,
                self.mtu,
                self.holding_time,
                len(nbma),
                len(sub),
                len(proto),
                self.preference,
            )
            + nbma
            + sub
            + proto
        )


@dataclass
class Extension:
    """One NHRP extension TLV (RFC 2332 §5.3): type with the C bit if compulsory, length, value."""

    type: int
    value: bytes = b""
    compulsory: bool = True

    def encode(self) -> bytes:
        """Wire bytes: (type | 0x8000 if compulsory), len(value), value."""
        value = bytes(self.value)
        code = self.type | EXT_COMPULSORY if self.compulsory else self.type
        return _EXT.pack(code, len(value)) + value


def _cies(cies: Sequence[Cie]) -> bytes:
    return b"".join(c.encode() for c in cies)


def responder_address(cies: Sequence[Cie] = ()) -> Extension:
    """Responder Address (type 3, compulsory, §5.3.1): sent empty by requesters, one CIE in replies."""
    return Extension(ExtensionType.RESPONDER_ADDRESS, _cies(cies))


def forward_transit(cies: Sequence[Cie] = ()) -> Extension:
    """Forward Transit NHS Record (type 4, compulsory, §5.3.2): one CIE appended per transit NHS."""
    return Extension(ExtensionType.FORWARD_TRANSIT_NHS_RECORD, _cies(cies))


def reverse_transit(cies: Sequence[Cie] = ()) -> Extension:
    """Reverse Transit NHS Record (type 5, compulsory, §5.3.3): the same on replies."""
    return Extension(ExtensionType.REVERSE_TRANSIT_NHS_RECORD, _cies(cies))


def cisco_auth(password: bytes | str) -> Extension:
    """Cisco/FRR/opennhrp plaintext authentication (type 7, compulsory): uint32 1 + the password, unpadded.

    Not the RFC 2332 §5.3.4 format (see `rfc_auth`). Cisco limits passwords to 8 bytes
    (CISCO_AUTH_MAX_PASSWORD); longer ones are encoded anyway, for negative tests.
    """
    pw = password.encode() if isinstance(password, str) else bytes(password)
    return Extension(ExtensionType.AUTHENTICATION, _I.pack(CISCO_AUTH_PLAINTEXT) + pw)


def rfc_auth(spi: int, src_addr: Address, data: bytes, reserved: int = 0) -> Extension:
    """RFC 2332 §5.3.4 authentication (type 7, compulsory): reserved(2), SPI(2), source address, data."""
    return Extension(
        ExtensionType.AUTHENTICATION, _H.pack(reserved) + _H.pack(spi) + _addr(src_addr) + bytes(data)
    )


def vendor_private(oui: int, data: bytes = b"") -> Extension:
    """Vendor-Private (type 8, NOT compulsory, §5.3.5): 3-byte IEEE OUI + data."""
    return Extension(ExtensionType.VENDOR_PRIVATE, oui.to_bytes(3, "big") + bytes(data), compulsory=False)


def nat_address(cies: Sequence[Cie] = ()) -> Extension:
    """Cisco NAT Address (type 9, NOT compulsory, as Cisco sends it): a list of CIEs."""
    return Extension(ExtensionType.NAT_ADDRESS, _cies(cies), compulsory=False)


def end() -> Extension:
    """End of extensions (type 0, empty), sent with the C bit set as everyone does (0x8000 0x0000)."""
    return Extension(ExtensionType.END)


# --------------------------------------------------------------------------------------------------
# Generic encoders


def _layout_nhrp(
    op_type: int,
    *,
    src_nbma: Address,
    src_proto: Address,
    dst_proto: Address,
    flags: int = 0,
    reqid: int = 0,
    hopcnt: int = 255,
    cies: Sequence[Cie] = (),
    extensions: Sequence[Extension] = (),
    src_nbma_sub: Address = b"",
    afn: int | None = None,
    pro_type: int | None = None,
    pro_snap: bytes = b"\0" * 5,
    version: int = NHRP_VERSION,
    error_code: int = 0,
    error_offset: int = 0,
    traffic_code: int = 0,
    payload: bytes = b"",
) -> tuple[bytes, dict[str, tuple[int, int]]]:
    """Encode an NHRP packet and return it with {field: (offset, size)} of the patchable fields."""
    nbma = _addr(src_nbma)
    sub = _addr(src_nbma_sub)
    sproto = _addr(src_proto)
    dproto = _addr(dst_proto)
    if afn is None:
        afn = {4: AddressFamily.IPV4, 16: AddressFamily.IPV6}.get(len(nbma))
        if afn is None:
            raise ValueError(f"src_nbma is {len(nbma)} bytes: give afn explicitly")
    if pro_type is None:
        pro_type = {4: ProtocolType.IPV4, 16: ProtocolType.IPV6}.get(len(sproto))
        if pro_type is None:
            raise ValueError(f"src_proto is {len(sproto)} bytes: give pro_type explicitly")

    offsets: dict[str, tuple[int, int]] = {"hopcnt": (9, 1)}
    if op_type in INDICATION_TYPES:
        if cies:
            raise ValueError("Error and Traffic Indications carry no CIEs")
        if op_type == PacketType.ERROR_INDICATION:
            head = _INDICATION.pack(len(sproto), len(dproto), 0, error_code, error_offset)
            offsets["error_code"] = (24, 2)
            offsets["error_offset"] = (26, 2)
        else:
            head = _INDICATION.pack(len(sproto), len(dproto), 0, traffic_code, 0)
            offsets["traffic_code"] = (24, 2)
        tail = bytes(payload)
    else:
        if payload:
            raise ValueError("payload is only for Error (7) and Traffic (8) Indications")
        head = _COMMON.pack(len(sproto), len(dproto), flags, reqid)
        offsets["flags"] = (22, 2)
        offsets["reqid"] = (24, 4)
        tail = _cies(cies)
    off = 20 + len(head)
    offsets["src_nbma"] = (off, len(nbma))
    off += len(nbma) + len(sub)
    offsets["src_proto"] = (off, len(sproto))
    off += len(sproto)
    offsets["dst_proto"] = (off, len(dproto))
    off += len(dproto)
    if cies and op_type not in INDICATION_TYPES:
        offsets["holding_time"] = (off + 6, 2)
    mandatory = head + nbma + sub + sproto + dproto + tail

    ext = b"".join(e.encode() for e in extensions)
    extoff = 20 + len(mandatory) if extensions else 0
    pktsz = 20 + len(mandatory) + len(ext)
    fixed = _FIXED.pack(
        afn, pro_type, bytes(pro_snap), hopcnt, pktsz, 0, extoff, version, op_type, len(nbma), len(sub)
    )
    packet = bytearray(fixed + mandatory + ext)
    _H.pack_into(packet, _NHRP_CHECKSUM_OFFSET, inet_checksum(packet))
    return bytes(packet), offsets


def encode_nhrp(
    op_type: int,
    *,
    src_nbma: Address,
    src_proto: Address,
    dst_proto: Address,
    flags: int = 0,
    reqid: int = 0,
    hopcnt: int = 255,
    cies: Sequence[Cie] = (),
    extensions: Sequence[Extension] = (),
    src_nbma_sub: Address = b"",
    afn: int | None = None,
    pro_type: int | None = None,
    pro_snap: bytes = b"\0" * 5,
    version: int = NHRP_VERSION,
    error_code: int = 0,
    error_offset: int = 0,
    traffic_code: int = 0,
    payload: bytes = b"",
) -> bytes:
    """The exact bytes of one NHRP packet (fixed header, mandatory part, extensions), checksum filled.

    Fixed header per RFC 2332 §5.1: afn defaults from len(src_nbma) (4 -> 1, 16 -> 2), pro_type from
    len(src_proto) (4 -> 0x0800, 16 -> 0x86DD); shtl/sstl are the lengths of src_nbma/src_nbma_sub.
    Mandatory part: types 7 (Error Indication, §5.2.7: error_code, error_offset) and 8 (Traffic
    Indication, draft-detienne-dmvpn-01 Fig. 4: traffic_code) carry `payload` after the addresses and
    no CIEs; every other type, unknown ones included (for negative tests), uses the common header of
    §5.2.0.1 (flags, reqid) followed by `cies`. extoff is 0 without extensions, else the offset of the
    first one; the list is written as given, so pass `end()` last yourself.
    """
    return _layout_nhrp(
        op_type,
        src_nbma=src_nbma,
        src_proto=src_proto,
        dst_proto=dst_proto,
        flags=flags,
        reqid=reqid,
        hopcnt=hopcnt,
        cies=cies,
        extensions=extensions,
        src_nbma_sub=src_nbma_sub,
        afn=afn,
        pro_type=pro_type,
        pro_snap=pro_snap,
        version=version,
        error_code=error_code,
        error_offset=error_offset,
        traffic_code=traffic_code,
        payload=payload,
    )[0]


def _gre_header(key: int | None, seq: int | None, proto: int) -> bytes:
    flags = (GRE_FLAG_KEY if key is not None else 0) | (GRE_FLAG_SEQUENCE if seq is not None else 0)
    gre = _H.pack(flags) + _H.pack(proto)
    if key is not None:
        gre += _I.pack(key)
    if seq is not None:
        gre += _I.pack(seq)
    return gre


def encode_ipv4_gre(
    payload: bytes,
    *,
    src: Address,
    dst: Address,
    key: int | None = None,
    seq: int | None = None,
    proto: int = GRE_PROTO_NHRP,
    ttl: int = 64,
    tos: int = 0,
    ip_id: int = 1,
    df: bool = False,
) -> bytes:
    """`payload` inside GRE (RFC 2784; key then sequence number as RFC 2890 orders them) inside IPv4.

    Defaults are Linux's (TTL 64, TOS 0, DF clear); Cisco sends TOS 0xc0 and TTL 255. No GRE checksum:
    no DMVPN implementation sends one.
    """
    gre = _gre_header(key, seq, proto)
    total = _IP_HEADER_LEN + len(gre) + len(payload)
    if total > 0xFFFF:
        raise ValueError(f"IPv4 packet would be {total} bytes")
    header = bytearray(
        _IPV4.pack(
            0x45, tos, total, ip_id, 0x4000 if df else 0, ttl, IPPROTO_GRE, 0, _addr(src), _addr(dst)
        )
    )
    if len(header) != _IP_HEADER_LEN:
        raise ValueError("IPv4 src and dst must be 4 bytes")
    _H.pack_into(header, _IP_CHECKSUM_OFFSET, inet_checksum(header))
    return bytes(header) + gre + bytes(payload)


# --------------------------------------------------------------------------------------------------
# Templates

_ADDR, _INT = 0, 1
_IP, _NHRP, _NONE = 0, 1, 2
_INT_FORMATS = {1: _B, 2: _H, 4: _I}


class NhrpTemplate:
    """A complete IPv4/GRE/NHRP packet compiled once, with the offsets of the fields a sender varies.

    `build(**values)` copies the template, writes the given fields and fixes both checksums
    incrementally (RFC 1624 style): the template's one's complement sums are kept as integers mod
    0xFFFF, and each patched field adds (new - old) * 256**(parity of its distance from the end).
    Only the rare residue 0 (where +0 and -0 differ) falls back to a full `inet_checksum`.

    Patchable fields (see `fields`): outer_src, outer_dst, ip_id; gre_key / gre_seq if present;
    hopcnt, src_nbma, src_proto, dst_proto; flags, reqid (types 1-6); holding_time of the first CIE
    if there is one; error_code, error_offset (type 7); traffic_code (type 8). Addresses take str,
    bytes of the template's length, ipaddress objects or ints; other fields ints.
    CIE addresses and extensions are fixed: compile another template to change them.
    """

    __slots__ = ("_packet", "_zeroed", "_spec", "_offsets", "_ip_sum", "_nhrp_sum", "_nhrp_off", "_len")

    def __init__(self, packet: bytes, nhrp_offset: int, offsets: dict[str, tuple[int, int]]) -> None:
        """Wrap an IPv4/GRE/NHRP `packet` whose NHRP starts at `nhrp_offset`; offsets are absolute."""
        self._packet = bytes(packet)
        self._len = len(packet)
        self._nhrp_off = nhrp_offset
        self._offsets = dict(offsets)
        zeroed = bytearray(packet)
        _H.pack_into(zeroed, _IP_CHECKSUM_OFFSET, 0)
        _H.pack_into(zeroed, nhrp_offset + _NHRP_CHECKSUM_OFFSET, 0)
        self._zeroed = bytes(zeroed)
        nhrp_len = len(packet) - nhrp_offset
        self._ip_sum = int.from_bytes(zeroed[:_IP_HEADER_LEN], "big") % 0xFFFF
        nhrp_int = int.from_bytes(zeroed[nhrp_offset:], "big")
        if nhrp_len & 1:
            nhrp_int <<= 8
        self._nhrp_sum = nhrp_int % 0xFFFF
        padded = nhrp_len + (nhrp_len & 1)
        spec: dict[str, tuple[Any, ...]] = {}
        for name, (off, size) in offsets.items():
            if off < _IP_HEADER_LEN:
                region, dist = _IP, _IP_HEADER_LEN - off - size
            elif off >= nhrp_offset:
                region, dist = _NHRP, padded - (off - nhrp_offset) - size
            else:
                region, dist = _NONE, 0
            weight = 256 if dist & 1 else 1
            old = int.from_bytes(self._packet[off : off + size], "big") * weight
            if name in ("outer_src", "outer_dst", "src_nbma", "src_proto", "dst_proto"):
                spec[name] = (off, _ADDR, size, region, weight, old)
            else:
                spec[name] = (off, _INT, _INT_FORMATS[size].pack_into, region, weight, old)
        self._spec = spec

    @classmethod
    def compile(
        cls,
        op_type: int,
        *,
        outer_src: Address,
        outer_dst: Address,
        gre_key: int | None = None,
        gre_seq: int | None = None,
        gre_proto: int = GRE_PROTO_NHRP,
        ttl: int = 64,
        tos: int = 0,
        ip_id: int = 1,
        df: bool = False,
        src_nbma: Address,
        src_proto: Address,
        dst_proto: Address,
        flags: int = 0,
        reqid: int = 0,
        hopcnt: int = 255,
        cies: Sequence[Cie] = (),
        extensions: Sequence[Extension] = (),
        src_nbma_sub: Address = b"",
        afn: int | None = None,
        pro_type: int | None = None,
        pro_snap: bytes = b"\0" * 5,
        version: int = NHRP_VERSION,
        error_code: int = 0,
        error_offset: int = 0,
        traffic_code: int = 0,
        payload: bytes = b"",
    ) -> NhrpTemplate:
        """Encode the packet with `encode_nhrp` + `encode_ipv4_gre` semantics and remember field offsets."""
        nhrp, nhrp_offsets = _layout_nhrp(
            op_type,
            src_nbma=src_nbma,
            src_proto=src_proto,
            dst_proto=dst_proto,
            flags=flags,
            reqid=reqid,
            hopcnt=hopcnt,
            cies=cies,
            extensions=extensions,
            src_nbma_sub=src_nbma_sub,
            afn=afn,
            pro_type=pro_type,
            pro_snap=pro_snap,
            version=version,
            error_code=error_code,
            error_offset=error_offset,
            traffic_code=traffic_code,
            payload=payload,
        )
        packet = encode_ipv4_gre(
            nhrp,
            src=outer_src,
            dst=outer_dst,
            key=gre_key,
            seq=gre_seq,
            proto=gre_proto,
            ttl=ttl,
            tos=tos,
            ip_id=ip_id,
            df=df,
        )
        nhrp_off = len(packet) - len(nhrp)
        offsets = {"outer_src": (12, 4), "outer_dst": (16, 4), "ip_id": (4, 2)}
        gre_off = _IP_HEADER_LEN + 4
        if gre_key is not None:
            offsets["gre_key"] = (gre_off, 4)
            gre_off += 4
        if gre_seq is not None:
            offsets["gre_seq"] = (gre_off, 4)
        for name, (off, size) in nhrp_offsets.items():
            offsets[name] = (nhrp_off + off, size)
        return cls(packet, nhrp_off, offsets)

    # -- introspection ---------------------------------------------------------------------------

    @property
    def fields(self) -> tuple[str, ...]:
        """Names `build` accepts."""
        return tuple(self._spec)

    @property
    def offsets(self) -> dict[str, tuple[int, int]]:
        """{field: (byte offset from the start of the IPv4 header, size)}, e.g. for TRex's field engine."""
        return dict(self._offsets)

    @property
    def packet(self) -> bytes:
        """The template packet itself (what `build()` returns with no values)."""
        return self._packet

    @property
    def nhrp_offset(self) -> int:
        """Offset of the NHRP fixed header from the start of the IPv4 header."""
        return self._nhrp_off

    def __len__(self) -> int:
        return self._len

    def __repr__(self) -> str:
        return f"<NhrpTemplate {self._len} bytes, fields={','.join(self._spec)}>"

    # -- building --------------------------------------------------------------------------------

    def build(self, **values: Any) -> bytes:
        """A new packet: the template with `values` written and both checksums right."""
        if not values:
            return self._packet
        buf = bytearray(self._zeroed)
        self._patch(buf, 0, values)
        return bytes(buf)

    def build_into(self, buf: bytearray | memoryview, offset: int = 0, **values: Any) -> int:
        """Write the patched packet into `buf` at `offset` (no allocation); returns its length."""
        n = self._len
        if offset < 0 or len(buf) - offset < n:
            raise ValueError(f"buffer too small: need {n} bytes at offset {offset}, have {len(buf) - offset}")
        buf[offset : offset + n] = self._zeroed
        self._patch(buf, offset, values)
        return n

    def _patch(self, buf: bytearray | memoryview, base: int, values: dict[str, Any]) -> None:
        spec = self._spec
        ip_sum = self._ip_sum
        nhrp_sum = self._nhrp_sum
        for name, value in values.items():
            try:
                off, kind, arg, region, weight, old = spec[name]
            except KeyError:
                raise ValueError(
                    f"unknown field {name!r} for this template; patchable: {', '.join(spec)}"
                ) from None
            if kind == _ADDR:
                cls = value.__class__
                if cls is str:
                    value = _addr(value)
                elif cls is int:
                    try:
                        value = value.to_bytes(arg, "big")
                    except OverflowError:
                        raise ValueError(f"{name}: {value} does not fit {arg} bytes") from None
                elif cls is not bytes:
                    value = _addr(value)
                if len(value) != arg:
                    raise ValueError(f"{name}: {len(value)}-byte address, the template has {arg} bytes")
                start = base + off
                buf[start : start + arg] = value
                if region == _NONE:
                    continue
                contribution = int.from_bytes(value, "big") * weight - old
            else:
                try:
                    arg(buf, base + off, value)
                except struct.error as exc:
                    raise ValueError(f"{name}: {exc}") from None
                if region == _NONE:
                    continue
                contribution = value * weight - old
            if region == _NHRP:
                nhrp_sum += contribution
            else:
                ip_sum += contribution
        r = ip_sum % 0xFFFF
        if r:
            _H.pack_into(buf, base + _IP_CHECKSUM_OFFSET, 0xFFFF - r)
        else:  # +0 or -0: let the full computation decide
            _H.pack_into(buf, base + _IP_CHECKSUM_OFFSET, inet_checksum(buf[base : base + _IP_HEADER_LEN]))
        r = nhrp_sum % 0xFFFF
        start = base + self._nhrp_off
        if r:
            _H.pack_into(buf, start + _NHRP_CHECKSUM_OFFSET, 0xFFFF - r)
        else:
            _H.pack_into(buf, start + _NHRP_CHECKSUM_OFFSET, inet_checksum(buf[start : base + self._len]))


# --------------------------------------------------------------------------------------------------
# DMVPN convenience constructors
#
# Shared defaults (documented once): hop count 255 and holding time 7200 s (Cisco on the wire;
# 7200 is every implementation's default), CIE MTU 0 ("default/negotiated", RFC 2332 §5.2.0.1),
# outer IPv4 TTL 64 / TOS 0 / DF clear unless ttl=, tos=, df= are passed (Cisco: 255 / 0xc0).
# `extensions=` replaces the default list entirely (pass () for none); any other keyword goes to
# NhrpTemplate.compile (gre_seq, ttl, tos, ip_id, df, afn, pro_type, src_nbma_sub, version, ...).


def _request_extensions(password: bytes | str | None, nat: Sequence[Cie] | None) -> list[Extension]:
    exts = [responder_address(), forward_transit(), reverse_transit()]
    if password is not None:
        exts.append(cisco_auth(password))
    if nat is not None:
        exts.append(nat_address(nat))
    exts.append(end())
    return exts


def _reply_extensions(
    responder: Cie, password: bytes | str | None, nat: Sequence[Cie] | None
) -> list[Extension]:
    exts = _request_extensions(password, nat)
    exts[0] = responder_address([responder])
    return exts


def _zeros_like(addr: Address) -> bytes:
    return bytes(len(_addr(addr)))


def _registration_nat(
    nhs_nbma: Address | None, nhs_proto: Address | None, outer_dst: Address, src_proto: Address, mtu: int
) -> list[Cie] | None:
    if nhs_nbma is None and nhs_proto is None:
        return None
    return [
        Cie(
            prefix_len=32,
            mtu=mtu,
            holding_time=0,
            client_nbma=outer_dst if nhs_nbma is None else nhs_nbma,
            client_proto=_zeros_like(src_proto) if nhs_proto is None else nhs_proto,
        )
    ]


def registration_request(
    *,
    outer_src: Address,
    outer_dst: Address,
    src_proto: Address,
    dst_proto: Address,
    src_nbma: Address | None = None,
    gre_key: int | None = None,
    reqid: int = 0,
    flags: int = RegistrationFlags.U | RegistrationFlags.NAT,
    hopcnt: int = 255,
    holding_time: int = NHRP_DEFAULT_HOLDING_TIME,
    mtu: int = 0,
    prefix_len: int = 32,
    password: bytes | str | None = None,
    nhs_nbma: Address | None = None,
    nhs_proto: Address | None = None,
    extensions: Sequence[Extension] | None = None,
    **kwargs: Any,
) -> NhrpTemplate:
    """Registration Request (type 3) as a Cisco spoke sends it (NHRP_registration.pcap).

    Defaults: src_nbma = outer_src; flags U|NAT (0x8002); one CIE code 0, prefix 32 (Cisco; RFC 2332
    §5.2.3 wants 0xFF with U), zero-length addresses ("use the common header"); extensions Responder,
    Forward, Reverse (empty), cisco_auth if `password`, the Cisco NAT extension with one CIE naming
    the NHS if nhs_nbma or nhs_proto is given (prefix 32, ht 0, MTU as the CIE's; nhs_nbma defaults
    to outer_dst, nhs_proto to all zeros, FRR's "NHS not known"), End.
    """
    if extensions is None:
        nat = _registration_nat(nhs_nbma, nhs_proto, outer_dst, src_proto, mtu)
        extensions = _request_extensions(password, nat)
    return NhrpTemplate.compile(
        PacketType.REGISTRATION_REQUEST,
        outer_src=outer_src,
        outer_dst=outer_dst,
        gre_key=gre_key,
        src_nbma=outer_src if src_nbma is None else src_nbma,
        src_proto=src_proto,
        dst_proto=dst_proto,
        flags=flags,
        reqid=reqid,
        hopcnt=hopcnt,
        cies=[Cie(prefix_len=prefix_len, mtu=mtu, holding_time=holding_time)],
        extensions=extensions,
        **kwargs,
    )


def registration_reply(
    *,
    outer_src: Address,
    outer_dst: Address,
    src_proto: Address,
    dst_proto: Address,
    src_nbma: Address | None = None,
    gre_key: int | None = None,
    reqid: int = 0,
    flags: int = RegistrationFlags.U | RegistrationFlags.NAT,
    hopcnt: int = 255,
    code: int = 0,
    holding_time: int = NHRP_DEFAULT_HOLDING_TIME,
    mtu: int = 0,
    prefix_len: int = 32,
    responder_nbma: Address | None = None,
    responder_proto: Address | None = None,
    password: bytes | str | None = None,
    nhs_nbma: Address | None = None,
    nhs_proto: Address | None = None,
    extensions: Sequence[Extension] | None = None,
    **kwargs: Any,
) -> NhrpTemplate:
    """Registration Reply (type 4) from an NHS to a spoke: the request echoed with type 4 (§5.2.4).

    Outer src is the NHS, outer dst the spoke. src_nbma/src_proto/dst_proto are the request's
    (src_nbma defaults to outer_dst). One CIE with `code` (prefix 32, zero-length addresses).
    Extensions: Responder filled with one CIE (code 0, prefix 32 like Cisco, mtu, holding_time,
    responder_nbma = outer_src, responder_proto = dst_proto by default), Forward/Reverse empty,
    auth and the NAT CIE echoed as in `registration_request`, End.
    """
    if extensions is None:
        responder = Cie(
            prefix_len=32,
            mtu=mtu,
            holding_time=holding_time,
            client_nbma=outer_src if responder_nbma is None else responder_nbma,
            client_proto=dst_proto if responder_proto is None else responder_proto,
        )
        nat = _registration_nat(nhs_nbma, nhs_proto, outer_src, src_proto, mtu)
        extensions = _reply_extensions(responder, password, nat)
    return NhrpTemplate.compile(
        PacketType.REGISTRATION_REPLY,
        outer_src=outer_src,
        outer_dst=outer_dst,
        gre_key=gre_key,
        src_nbma=outer_dst if src_nbma is None else src_nbma,
        src_proto=src_proto,
        dst_proto=dst_proto,
        flags=flags,
        reqid=reqid,
        hopcnt=hopcnt,
        cies=[Cie(code=code, prefix_len=prefix_len, mtu=mtu, holding_time=holding_time)],
        extensions=extensions,
        **kwargs,
    )


def resolution_request(
    *,
    outer_src: Address,
    outer_dst: Address,
    src_proto: Address,
    dst_proto: Address,
    src_nbma: Address | None = None,
    gre_key: int | None = None,
    reqid: int = 0,
    flags: int = ResolutionFlags.Q | ResolutionFlags.A | ResolutionFlags.S | ResolutionFlags.NAT,
    hopcnt: int = 255,
    holding_time: int = NHRP_DEFAULT_HOLDING_TIME,
    mtu: int = 0,
    prefix_len: int = 0,
    password: bytes | str | None = None,
    nat_cies: Sequence[Cie] | None = None,
    extensions: Sequence[Extension] | None = None,
    **kwargs: Any,
) -> NhrpTemplate:
    """Resolution Request (type 1) for dst_proto, as in nhrp-trace.pcap.

    Defaults: src_nbma = outer_src; flags Q|A|S|NAT (0xC802, FRR and Cisco); one CIE code 0, prefix 0,
    zero-length addresses, holding_time; extensions Responder/Forward/Reverse (empty), cisco_auth if
    `password`, the NAT extension with `nat_cies` if not None (() gives the empty one of the trace), End.
    """
    if extensions is None:
        extensions = _request_extensions(password, nat_cies)
    return NhrpTemplate.compile(
        PacketType.RESOLUTION_REQUEST,
        outer_src=outer_src,
        outer_dst=outer_dst,
        gre_key=gre_key,
        src_nbma=outer_src if src_nbma is None else src_nbma,
        src_proto=src_proto,
        dst_proto=dst_proto,
        flags=flags,
        reqid=reqid,
        hopcnt=hopcnt,
        cies=[Cie(prefix_len=prefix_len, mtu=mtu, holding_time=holding_time)],
        extensions=extensions,
        **kwargs,
    )


def resolution_reply(
    *,
    outer_src: Address,
    outer_dst: Address,
    src_proto: Address,
    dst_proto: Address,
    src_nbma: Address | None = None,
    gre_key: int | None = None,
    reqid: int = 0,
    flags: int = (
        ResolutionFlags.Q
        | ResolutionFlags.A
        | ResolutionFlags.D
        | ResolutionFlags.U
        | ResolutionFlags.S
        | ResolutionFlags.NAT
    ),
    hopcnt: int = 255,
    code: int = 0,
    holding_time: int = NHRP_DEFAULT_HOLDING_TIME,
    mtu: int = 0,
    prefix_len: int = 32,
    responder_nbma: Address | None = None,
    responder_proto: Address | None = None,
    password: bytes | str | None = None,
    nat_cies: Sequence[Cie] | None = None,
    extensions: Sequence[Extension] | None = None,
    **kwargs: Any,
) -> NhrpTemplate:
    """Resolution Reply (type 2) sent by the responder straight to the requester.

    src_nbma/src_proto are the requester's (src_nbma defaults to outer_dst), dst_proto the resolved
    address. Flags Q|A|D|U|S|NAT (0xF802, nhrp-trace). One CIE with `code`, prefix_len (32), mtu,
    holding_time and the responder's client addresses (responder_nbma = outer_src, responder_proto =
    dst_proto by default). Extensions: Responder with the same addresses (prefix 0, as in the
    trace), Forward/Reverse empty, cisco_auth if `password`, NAT with `nat_cies` if not None, End.
    """
    nbma = outer_src if responder_nbma is None else responder_nbma
    proto = dst_proto if responder_proto is None else responder_proto
    if extensions is None:
        responder = Cie(mtu=mtu, holding_time=holding_time, client_nbma=nbma, client_proto=proto)
        extensions = _reply_extensions(responder, password, nat_cies)
    cie = Cie(
        code=code,
        prefix_len=prefix_len,
        mtu=mtu,
        holding_time=holding_time,
        client_nbma=nbma,
        client_proto=proto,
    )
    return NhrpTemplate.compile(
        PacketType.RESOLUTION_REPLY,
        outer_src=outer_src,
        outer_dst=outer_dst,
        gre_key=gre_key,
        src_nbma=outer_dst if src_nbma is None else src_nbma,
        src_proto=src_proto,
        dst_proto=dst_proto,
        flags=flags,
        reqid=reqid,
        hopcnt=hopcnt,
        cies=[cie],
        extensions=extensions,
        **kwargs,
    )


def _purge(
    op_type: int,
    outer_src: Address,
    outer_dst: Address,
    src_proto: Address,
    dst_proto: Address,
    src_nbma: Address | None,
    purge_proto: Address | None,
    purge_nbma: Address,
    prefix_len: int,
    holding_time: int,
    password: bytes | str | None,
    extensions: Sequence[Extension] | None,
    kwargs: dict[str, Any],
) -> NhrpTemplate:
    if extensions is None:
        extensions = _request_extensions(password, None)
    cie = Cie(
        prefix_len=prefix_len,
        holding_time=holding_time,
        client_nbma=purge_nbma,
        client_proto=src_proto if purge_proto is None else purge_proto,
    )
    return NhrpTemplate.compile(
        op_type,
        outer_src=outer_src,
        outer_dst=outer_dst,
        src_nbma=outer_src if src_nbma is None else src_nbma,
        src_proto=src_proto,
        dst_proto=dst_proto,
        cies=[cie],
        extensions=extensions,
        **kwargs,
    )


def purge_request(
    *,
    outer_src: Address,
    outer_dst: Address,
    src_proto: Address,
    dst_proto: Address,
    src_nbma: Address | None = None,
    gre_key: int | None = None,
    reqid: int = 0,
    flags: int = 0,
    hopcnt: int = 255,
    purge_proto: Address | None = None,
    purge_nbma: Address = b"",
    prefix_len: int = 32,
    holding_time: int = 0,
    password: bytes | str | None = None,
    extensions: Sequence[Extension] | None = None,
    **kwargs: Any,
) -> NhrpTemplate:
    """Purge Request (type 5, RFC 2332 §5.2.5): invalidate the binding of purge_proto.

    Defaults: src_nbma = outer_src; flags 0 (set PurgeFlags.N for "no reply expected"); one CIE code
    0, prefix 32, holding_time 0, client proto = purge_proto (default src_proto: a station purging its
    own registration), client NBMA = purge_nbma (default empty); extensions Responder/Forward/Reverse
    (empty), cisco_auth if `password`, End.
    """
    kwargs.update(gre_key=gre_key, reqid=reqid, flags=flags, hopcnt=hopcnt)
    return _purge(
        PacketType.PURGE_REQUEST, outer_src, outer_dst, src_proto, dst_proto, src_nbma,
        purge_proto, purge_nbma, prefix_len, holding_time, password, extensions, kwargs,
    )  # fmt: skip


def purge_reply(
    *,
    outer_src: Address,
    outer_dst: Address,
    src_proto: Address,
    dst_proto: Address,
    src_nbma: Address | None = None,
    gre_key: int | None = None,
    reqid: int = 0,
    flags: int = 0,
    hopcnt: int = 255,
    purge_proto: Address | None = None,
    purge_nbma: Address = b"",
    prefix_len: int = 32,
    holding_time: int = 0,
    password: bytes | str | None = None,
    extensions: Sequence[Extension] | None = None,
    **kwargs: Any,
) -> NhrpTemplate:
    """Purge Reply (type 6, §5.2.6): the Purge Request with only the type changed.

    Pass the request's src_nbma/src_proto/dst_proto/reqid/CIE values; src_nbma defaults to outer_src
    here too, so give it explicitly when the reply travels back (outer_src = the purged station).
    """
    kwargs.update(gre_key=gre_key, reqid=reqid, flags=flags, hopcnt=hopcnt)
    return _purge(
        PacketType.PURGE_REPLY, outer_src, outer_dst, src_proto, dst_proto, src_nbma,
        purge_proto, purge_nbma, prefix_len, holding_time, password, extensions, kwargs,
    )  # fmt: skip


def traffic_indication(
    *,
    outer_src: Address,
    outer_dst: Address,
    src_proto: Address,
    dst_proto: Address,
    payload: bytes,
    traffic_code: int = 0,
    src_nbma: Address | None = None,
    gre_key: int | None = None,
    hopcnt: int = 255,
    password: bytes | str | None = None,
    extensions: Sequence[Extension] | None = None,
    **kwargs: Any,
) -> NhrpTemplate:
    """Traffic Indication (type 8, "redirect", draft-detienne-dmvpn-01 Fig. 4) from a hub to a spoke.

    src_proto is the hub, dst_proto the *source* of the triggering data packet (what FRR, opennhrp and
    nhrp-trace do, not the draft's wording); payload is (the start of) that packet. Defaults:
    src_nbma = outer_src; extensions as FRR sends them: none, or cisco_auth + End with `password`.
    """
    if extensions is None:
        extensions = [] if password is None else [cisco_auth(password), end()]
    return NhrpTemplate.compile(
        PacketType.TRAFFIC_INDICATION,
        outer_src=outer_src,
        outer_dst=outer_dst,
        gre_key=gre_key,
        src_nbma=outer_src if src_nbma is None else src_nbma,
        src_proto=src_proto,
        dst_proto=dst_proto,
        hopcnt=hopcnt,
        traffic_code=traffic_code,
        payload=payload,
        extensions=extensions,
        **kwargs,
    )


def error_indication(
    error_code: int,
    error_offset: int = 0,
    *,
    outer_src: Address,
    outer_dst: Address,
    src_proto: Address,
    dst_proto: Address,
    payload: bytes,
    src_nbma: Address | None = None,
    gre_key: int | None = None,
    hopcnt: int = 255,
    extensions: Sequence[Extension] | None = None,
    **kwargs: Any,
) -> NhrpTemplate:
    """Error Indication (type 7, RFC 2332 §5.2.7) about the offending NHRP packet `payload`.

    src is the station reporting the error, dst_proto the sender of the bad packet; error_offset
    counts from the offending packet's fixed header. Defaults: src_nbma = outer_src, hop count 255
    (Cisco; FRR and opennhrp send 0), no extensions (the RFC forbids adding any).
    """
    return NhrpTemplate.compile(
        PacketType.ERROR_INDICATION,
        outer_src=outer_src,
        outer_dst=outer_dst,
        gre_key=gre_key,
        src_nbma=outer_src if src_nbma is None else src_nbma,
        src_proto=src_proto,
        dst_proto=dst_proto,
        hopcnt=hopcnt,
        error_code=error_code,
        error_offset=error_offset,
        payload=payload,
        extensions=() if extensions is None else extensions,
        **kwargs,
    )
