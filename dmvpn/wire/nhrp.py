"""NHRP (RFC 2332 + Cisco's DMVPN extensions) as a scapy layer.

Layout follows the RFC's own split:

    NHRP                         fixed header (RFC 2332 §5.1), 20 bytes
    / NHRPResolutionRequest ...  mandatory part by ar$op.type (§5.2.1-§5.2.7; type 8 from
                                 draft-detienne-dmvpn-01 Fig. 4), with its CIE list and the
                                 extension list (§5.3) as fields
    / Padding                    bytes after ar$pktsz, if any

Lengths, offsets and the checksum (ar$pktsz, ar$extoff, ar$shtl/sstl, proto lengths, extension
lengths and RFC 2332 §5.1's checksum) are computed when left as None, and kept as given otherwise,
so that a suite can send wrong values on purpose. Dissection takes every length from the packet
itself (shtl, sstl, proto lengths, extoff, pktsz) and never raises on malformed input: what cannot
be parsed is kept as raw bytes (see `dmvpn.wire.decode`).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from typing import Any

from scapy.fields import (
    BitEnumField,
    BitField,
    ByteEnumField,
    ByteField,
    FieldLenField,
    FlagsField,
    PacketListField,
    ShortEnumField,
    ShortField,
    StrFixedLenField,
    StrLenField,
    X3BytesField,
    XIntField,
    XShortEnumField,
    XShortField,
    IntField,
)
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import GRE
from scapy.packet import Packet, Raw, bind_layers
from scapy.utils import checksum

from dmvpn.wire import constants as C

# ---------------------------------------------------------------------------------------------
# Address fields
# ---------------------------------------------------------------------------------------------


def address_to_bytes(value: Any) -> bytes:
    """IPv4/IPv6 text, an ipaddress object or raw bytes (any length, for malformed cases)."""
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return value.packed
    text = str(value)
    return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)


def bytes_to_address(raw: bytes) -> str | bytes:
    """4 bytes read back as IPv4 text, 16 as IPv6 text, anything else stays bytes."""
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw)
    if len(raw) == 16:
        return socket.inet_ntop(socket.AF_INET6, raw)
    return raw


class NHRPAddressField(StrLenField):
    """An NBMA or protocol address whose length comes from another field (RFC 2332 §5.2.0.1)."""

    def any2i(self, pkt: Packet | None, x: Any) -> Any:
        # Keep address text as text (StrField would encode it as ASCII bytes).
        if isinstance(x, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            return str(x)
        if isinstance(x, bytearray):
            return bytes(x)
        return x

    def i2m(self, pkt: Packet | None, x: Any) -> bytes:
        return address_to_bytes(x)

    def m2i(self, pkt: Packet | None, x: bytes) -> Any:
        return bytes_to_address(x)

    def i2len(self, pkt: Packet | None, x: Any) -> int:
        return len(address_to_bytes(x))

    def i2repr(self, pkt: Packet | None, x: Any) -> str:
        return x.hex() if isinstance(x, bytes) and x else repr(x)


def _tl_len(value: int | None) -> int:
    return (value or 0) & C.TL_LEN_MASK


# ---------------------------------------------------------------------------------------------
# Client Information Entry (RFC 2332 §5.2.0.1)
# ---------------------------------------------------------------------------------------------


class NHRPCIE(Packet):
    """Client Information Entry: 12 bytes, then client NBMA, NBMA subaddress and protocol address."""

    name = "NHRP Client Information Entry"
    fields_desc = [
        ByteEnumField("code", 0, {m.value: m.name for m in C.CieCode}),
        ByteField("prefix_len", 0),
        ShortField("unused", 0),
        ShortField("mtu", 0),
        ShortField("holding_time", 0),
        FieldLenField("cli_addr_tl", None, length_of="client_nbma", fmt="B"),
        FieldLenField("cli_saddr_tl", None, length_of="client_nbma_sub", fmt="B"),
        FieldLenField("cli_proto_len", None, length_of="client_proto", fmt="B"),
        ByteField("preference", 0),
        NHRPAddressField("client_nbma", b"", length_from=lambda p: _tl_len(p.cli_addr_tl)),
        NHRPAddressField("client_nbma_sub", b"", length_from=lambda p: _tl_len(p.cli_saddr_tl)),
        NHRPAddressField("client_proto", b"", length_from=lambda p: p.cli_proto_len),
    ]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


def _cie_or_raw(pkt: Packet, lst: list, cur: Packet | None, remain: bytes) -> type[Packet] | None:
    """Next element of a CIE list: a CIE when 12 bytes remain, else the truncated rest as Raw."""
    if not remain:
        return None
    if len(remain) < C.NHRP_CIE_FIXED_LEN:
        return Raw
    return NHRPCIE


def _cie_list(name: str, length_from: Any) -> PacketListField:
    return PacketListField(name, [], next_cls_cb=_cie_or_raw, length_from=length_from)


# ---------------------------------------------------------------------------------------------
# Extensions (RFC 2332 §5.3)
# ---------------------------------------------------------------------------------------------

EXTENSION_NAMES = {m.value: m.name for m in C.ExtensionType}


def _parent_src_proto_len(pkt: Packet) -> int:
    parent = pkt.parent
    value = getattr(parent, "src_proto_len", None) if parent is not None else None
    return 4 if value is None else value


class NHRPExtension(Packet):
    """An extension TLV: C bit, u bit, 14-bit type, 16-bit length, value kept byte for byte."""

    name = "NHRP Extension"
    ext_type: int | None = None  # set by the typed subclasses
    compulsory_default = 1
    fields_desc = [
        BitField("compulsory", 1, 1),
        BitField("u", 0, 1),
        BitEnumField("type", 0, 14, EXTENSION_NAMES),
        FieldLenField("len", None, length_of="value", fmt="H"),
        StrLenField("value", b"", length_from=lambda p: p.len),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if self.ext_type is not None:
            kwargs.setdefault("type", self.ext_type)
            kwargs.setdefault("compulsory", self.compulsory_default)
        super().__init__(*args, **kwargs)

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args: Any, **kwargs: Any) -> type[Packet]:
        if not _pkt or len(_pkt) < C.NHRP_EXT_HEADER_LEN:
            return cls if _pkt is None or len(_pkt) >= C.NHRP_EXT_HEADER_LEN else Raw
        word, length = struct.unpack("!HH", _pkt[:4])
        ext_type = word & C.EXT_TYPE_MASK
        if word & C.EXT_UNUSED:  # the u bit makes the type unknown to the RFC's parser
            return NHRPExtUnknown
        if ext_type == C.ExtensionType.NAT_ADDRESS and length == 8:
            return NHRPExtDeviceCapabilities  # RFC 2735 shares number 9; Wireshark tells them so
        if ext_type == C.ExtensionType.AUTHENTICATION:
            if _pkt[4:8] == struct.pack("!I", C.CISCO_AUTH_PLAINTEXT) and length >= 4:
                return NHRPExtCiscoAuthentication
            return NHRPExtAuthentication
        return _EXTENSION_CLASSES.get(ext_type, NHRPExtUnknown)


class NHRPExtUnknown(NHRPExtension):
    """Any extension type this layer does not model: kept byte for byte."""

    name = "NHRP Unknown Extension"


class NHRPExtEnd(NHRPExtension):
    name = "NHRP End of Extensions"
    ext_type = C.ExtensionType.END


class _NHRPExtCIEList(NHRPExtension):
    fields_desc = NHRPExtension.fields_desc[:3] + [
        FieldLenField("len", None, length_of="cies", fmt="H"),
        _cie_list("cies", lambda p: p.len),
    ]


class NHRPExtResponderAddress(_NHRPExtCIEList):
    name = "NHRP Responder Address Extension"
    ext_type = C.ExtensionType.RESPONDER_ADDRESS


class NHRPExtForwardTransit(_NHRPExtCIEList):
    name = "NHRP Forward Transit NHS Record Extension"
    ext_type = C.ExtensionType.FORWARD_TRANSIT_NHS_RECORD


class NHRPExtReverseTransit(_NHRPExtCIEList):
    name = "NHRP Reverse Transit NHS Record Extension"
    ext_type = C.ExtensionType.REVERSE_TRANSIT_NHS_RECORD


class NHRPExtNATAddress(_NHRPExtCIEList):
    """Cisco NAT Address extension (type 9, sent without the C bit)."""

    name = "Cisco NAT Address Extension"
    ext_type = C.ExtensionType.NAT_ADDRESS
    compulsory_default = 0


class NHRPExtDeviceCapabilities(NHRPExtension):
    """RFC 2735 Device Capabilities: also type 9, recognised (as Wireshark does) by length 8."""

    name = "NHRP Device Capabilities Extension"
    ext_type = C.ExtensionType.NAT_ADDRESS
    compulsory_default = 0
    fields_desc = NHRPExtension.fields_desc[:3] + [
        ShortField("len", 8),
        XIntField("src_capabilities", 0),
        XIntField("dst_capabilities", 0),
    ]


class NHRPExtCiscoAuthentication(NHRPExtension):
    """Cisco/FRR/opennhrp authentication: type word 0x00000001 then the unpadded password."""

    name = "NHRP Authentication Extension (Cisco plaintext)"
    ext_type = C.ExtensionType.AUTHENTICATION
    fields_desc = NHRPExtension.fields_desc[:3] + [
        FieldLenField("len", None, length_of="password", fmt="H", adjust=lambda p, x: x + 4),
        XIntField("auth_type", C.CISCO_AUTH_PLAINTEXT),
        StrLenField("password", b"", length_from=lambda p: max(0, (p.len or 0) - 4)),
    ]


class NHRPExtAuthentication(NHRPExtension):
    """RFC 2332 §5.3.4 form: Reserved, SPI, source address (src proto length), keyed-hash data."""

    name = "NHRP Authentication Extension"
    ext_type = C.ExtensionType.AUTHENTICATION
    fields_desc = NHRPExtension.fields_desc[:3] + [
        ShortField("len", None),
        ShortField("reserved", 0),
        ShortField("spi", 0),
        NHRPAddressField(
            "src_addr", b"", length_from=lambda p: min(_parent_src_proto_len(p), max(0, (p.len or 0) - 4))
        ),
        StrLenField(
            "auth_data",
            b"",
            length_from=lambda p: max(0, (p.len or 0) - 4 - len(address_to_bytes(p.src_addr))),
        ),
    ]

    def post_build(self, p: bytes, pay: bytes) -> bytes:
        if self.len is None:
            p = p[:2] + struct.pack("!H", len(p) - 4) + p[4:]
        return p + pay


class NHRPExtVendorPrivate(NHRPExtension):
    """Vendor-Private extension (RFC 2332 §5.3.5): IEEE OUI then vendor data; may repeat."""

    name = "NHRP Vendor-Private Extension"
    ext_type = C.ExtensionType.VENDOR_PRIVATE
    compulsory_default = 0
    fields_desc = NHRPExtension.fields_desc[:3] + [
        FieldLenField("len", None, length_of="data", fmt="H", adjust=lambda p, x: x + 3),
        X3BytesField("vendor_id", 0),
        StrLenField("data", b"", length_from=lambda p: max(0, (p.len or 0) - 3)),
    ]


_EXTENSION_CLASSES: dict[int, type[NHRPExtension]] = {
    C.ExtensionType.END: NHRPExtEnd,
    C.ExtensionType.RESPONDER_ADDRESS: NHRPExtResponderAddress,
    C.ExtensionType.FORWARD_TRANSIT_NHS_RECORD: NHRPExtForwardTransit,
    C.ExtensionType.REVERSE_TRANSIT_NHS_RECORD: NHRPExtReverseTransit,
    C.ExtensionType.VENDOR_PRIVATE: NHRPExtVendorPrivate,
    C.ExtensionType.NAT_ADDRESS: NHRPExtNATAddress,
}


def _ext_or_raw(pkt: Packet, lst: list, cur: Packet | None, remain: bytes) -> type[Packet] | None:
    if not remain:
        return None
    return NHRPExtension if len(remain) >= C.NHRP_EXT_HEADER_LEN else Raw


# ---------------------------------------------------------------------------------------------
# Fixed header (RFC 2332 §5.1)
# ---------------------------------------------------------------------------------------------


class NHRP(Packet):
    """NHRP fixed header. Computes afn, pro_type, shtl, sstl, pktsz, extoff and chksum if None."""

    name = "NHRP"
    fields_desc = [
        XShortEnumField("afn", None, {m.value: m.name for m in C.AddressFamily}),
        XShortEnumField("pro_type", None, {m.value: m.name for m in C.ProtocolType}),
        StrFixedLenField("pro_snap", b"\x00" * 5, 5),
        ByteField("hopcnt", 255),
        ShortField("pktsz", None),
        XShortField("chksum", None),
        ShortField("extoff", None),
        ByteField("version", C.NHRP_VERSION),
        ByteEnumField("op_type", None, {m.value: m.name for m in C.PacketType}),
        ByteField("shtl", None),
        ByteField("sstl", None),
    ]

    def post_build(self, p: bytes, pay: bytes) -> bytes:
        body = self.payload if isinstance(self.payload, _NHRPBody) else None
        mandatory_len, ext_len, trailer = _split_body(body, pay)
        hdr = bytearray(p)
        if self.afn is None:
            nbma = address_to_bytes(body.src_nbma) if body is not None else b""
            hdr[0:2] = struct.pack("!H", C.AddressFamily.IPV6 if len(nbma) == 16 else C.AddressFamily.IPV4)
        if self.pro_type is None:
            proto = address_to_bytes(body.src_proto) if body is not None else b""
            hdr[2:4] = struct.pack("!H", C.ProtocolType.IPV6 if len(proto) == 16 else C.ProtocolType.IPV4)
        if self.op_type is None:
            hdr[17] = body.op_type_default if body is not None else 0
        if self.shtl is None:
            hdr[18] = len(address_to_bytes(body.src_nbma)) if body is not None else 0
        if self.sstl is None:
            hdr[19] = len(address_to_bytes(body.src_nbma_sub)) if body is not None else 0
        if self.pktsz is None:
            hdr[10:12] = struct.pack("!H", len(hdr) + mandatory_len + ext_len)
        if self.extoff is None:
            hdr[14:16] = struct.pack("!H", len(hdr) + mandatory_len if ext_len else 0)
        packet = bytes(hdr) + pay
        if self.chksum is None:
            pktsz = struct.unpack("!H", hdr[10:12])[0]
            covered = bytearray(packet[:pktsz])
            covered[12:14] = b"\x00\x00"
            packet = packet[:12] + struct.pack("!H", checksum(bytes(covered))) + packet[14:]
        return packet

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        return _BODY_CLASSES.get(self.op_type, NHRPUnknownBody)

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        # Everything up to ar$pktsz belongs to the mandatory part and extensions; the rest is
        # trailing data (HDR-10), kept as Padding.
        body_len = max(0, (self.pktsz or 0) - C.NHRP_FIXED_HEADER_LEN)
        return s[:body_len], s[body_len:]

    def mysummary(self) -> str:
        name = C.PacketType(self.op_type).name if self.op_type in C.PacketType._value2member_map_ else self.op_type
        return f"NHRP {name}"

    def hashret(self) -> bytes:
        body = self.payload
        return struct.pack("!I", getattr(body, "reqid", 0) or 0)

    def answers(self, other: Packet) -> bool:
        if not isinstance(other, NHRP):
            return False
        if C.REPLY_FOR.get(other.op_type) != self.op_type:
            return False
        return getattr(self.payload, "reqid", None) == getattr(other.payload, "reqid", None)


def _split_body(body: "_NHRPBody | None", pay: bytes) -> tuple[int, int, int]:
    """(mandatory length, extensions length, trailer length) of the built payload bytes."""
    if body is None:
        return len(pay), 0, 0
    mandatory_len = body.mandatory_length()
    ext_len = sum(len(bytes(e)) for e in body.extensions)
    trailer = max(0, len(pay) - mandatory_len - ext_len)
    return mandatory_len, ext_len, trailer


# ---------------------------------------------------------------------------------------------
# Mandatory parts (RFC 2332 §5.2)
# ---------------------------------------------------------------------------------------------


def _hdr(pkt: Packet) -> NHRP | None:
    under = pkt.underlayer
    return under if isinstance(under, NHRP) else None


def _mandatory_len(pkt: Packet) -> int:
    """The mandatory part's length as the fixed header declares it (RFC 2332 §5)."""
    hdr = _hdr(pkt)
    if hdr is None or hdr.pktsz is None:
        return 1 << 16
    end = hdr.extoff if hdr.extoff else hdr.pktsz
    return max(0, end - C.NHRP_FIXED_HEADER_LEN)


def _extensions_len(pkt: Packet, consumed: int) -> int:
    hdr = _hdr(pkt)
    if hdr is None or hdr.pktsz is None:
        return 1 << 16
    if not hdr.extoff:
        return 0
    start = max(hdr.extoff - C.NHRP_FIXED_HEADER_LEN, consumed)
    return max(0, hdr.pktsz - C.NHRP_FIXED_HEADER_LEN - start)


def _src_nbma_len(pkt: Packet) -> int:
    hdr = _hdr(pkt)
    return 4 if hdr is None or hdr.shtl is None else _tl_len(hdr.shtl)


def _src_nbma_sub_len(pkt: Packet) -> int:
    hdr = _hdr(pkt)
    return 0 if hdr is None or hdr.sstl is None else _tl_len(hdr.sstl)


class _NHRPBody(Packet):
    """Common machinery of mandatory parts: the extension list and length bookkeeping."""

    op_type_default = 0
    #: bytes before the addresses: proto lengths (2) and flags+reqid or unused+code+offset (6)
    fixed_len = 8

    def address_len(self) -> int:
        return (
            _src_nbma_len(self)
            + _src_nbma_sub_len(self)
            + (self.src_proto_len or 0)
            + (self.dst_proto_len or 0)
        )

    def mandatory_length(self) -> int:
        """Bytes of the mandatory part as built (everything before the extensions)."""
        total = 0
        for f in self.fields_desc:
            if f.name == "extensions":
                break
            total += len(f.addfield(self, b"", self.getfieldval(f.name)))
        return total

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s

    def mysummary(self) -> str:
        return self.sprintf(f"{self.name} %src_proto% -> %dst_proto%")


def _common_fields(flag_names: dict[int, str]) -> list:
    return [
        FieldLenField("src_proto_len", None, length_of="src_proto", fmt="B"),
        FieldLenField("dst_proto_len", None, length_of="dst_proto", fmt="B"),
        FlagsField("flags", 0, 16, flag_names),
        XIntField("reqid", 0),
        NHRPAddressField("src_nbma", "0.0.0.0", length_from=_src_nbma_len),
        NHRPAddressField("src_nbma_sub", b"", length_from=_src_nbma_sub_len),
        NHRPAddressField("src_proto", "0.0.0.0", length_from=lambda p: p.src_proto_len),
        NHRPAddressField("dst_proto", "0.0.0.0", length_from=lambda p: p.dst_proto_len),
        _cie_list("cies", lambda p: max(0, _mandatory_len(p) - p.fixed_len - p.address_len())),
        PacketListField(
            "extensions",
            [],
            next_cls_cb=_ext_or_raw,
            length_from=lambda p: _extensions_len(p, p.fixed_len + p.address_len() + sum(len(bytes(c)) for c in p.cies)),
        ),
    ]


def _flag_dict(enum: Any) -> dict[int, str]:
    return {member.value: member.name for member in enum}


class NHRPResolutionRequest(_NHRPBody):
    name = "NHRP Resolution Request"
    op_type_default = C.PacketType.RESOLUTION_REQUEST
    fields_desc = _common_fields(_flag_dict(C.ResolutionFlags))


class NHRPResolutionReply(_NHRPBody):
    name = "NHRP Resolution Reply"
    op_type_default = C.PacketType.RESOLUTION_REPLY
    fields_desc = _common_fields(_flag_dict(C.ResolutionFlags))


class NHRPRegistrationRequest(_NHRPBody):
    name = "NHRP Registration Request"
    op_type_default = C.PacketType.REGISTRATION_REQUEST
    fields_desc = _common_fields(_flag_dict(C.RegistrationFlags))


class NHRPRegistrationReply(_NHRPBody):
    name = "NHRP Registration Reply"
    op_type_default = C.PacketType.REGISTRATION_REPLY
    fields_desc = _common_fields(_flag_dict(C.RegistrationFlags))


class NHRPPurgeRequest(_NHRPBody):
    name = "NHRP Purge Request"
    op_type_default = C.PacketType.PURGE_REQUEST
    fields_desc = _common_fields(_flag_dict(C.PurgeFlags))


class NHRPPurgeReply(_NHRPBody):
    name = "NHRP Purge Reply"
    op_type_default = C.PacketType.PURGE_REPLY
    fields_desc = _common_fields(_flag_dict(C.PurgeFlags))


class _EmbeddedPacketField(StrLenField):
    """The packet carried by an indication, dissected as a nested packet (kept raw if it fails)."""

    __slots__ = ["cls_from"]
    holds_packets = 1

    def __init__(self, name: str, length_from: Any, cls_from: Any) -> None:
        super().__init__(name, None, length_from=length_from)
        self.cls_from = cls_from

    def m2i(self, pkt: Packet, x: bytes) -> Any:
        if not x:
            return None
        cls = self.cls_from(pkt, x)
        try:
            return cls(x)
        except Exception:  # a malformed embedded packet stays bytes, never an exception
            return Raw(x)

    def i2m(self, pkt: Packet | None, x: Any) -> bytes:
        if x is None:
            return b""
        return bytes(x)

    def i2len(self, pkt: Packet | None, x: Any) -> int:
        return len(self.i2m(pkt, x))

    def any2i(self, pkt: Packet | None, x: Any) -> Any:
        return x

    def i2repr(self, pkt: Packet | None, x: Any) -> str:
        return repr(x)


def _ti_packet_class(pkt: Packet, data: bytes) -> type[Packet]:
    hdr = _hdr(pkt)
    pro_type = hdr.pro_type if hdr is not None else None
    if pro_type == C.ProtocolType.IPV6:
        return IPv6
    if pro_type == C.ProtocolType.IPV4 or (data and data[0] >> 4 == 4):
        return IP
    return Raw


def _indication_fields(code_fields: list, cls_from: Any) -> list:
    """Error and Traffic Indication: proto lengths, three 16-bit words, addresses, the packet."""
    return [
        FieldLenField("src_proto_len", None, length_of="src_proto", fmt="B"),
        FieldLenField("dst_proto_len", None, length_of="dst_proto", fmt="B"),
        *code_fields,
        NHRPAddressField("src_nbma", "0.0.0.0", length_from=_src_nbma_len),
        NHRPAddressField("src_nbma_sub", b"", length_from=_src_nbma_sub_len),
        NHRPAddressField("src_proto", "0.0.0.0", length_from=lambda p: p.src_proto_len),
        NHRPAddressField("dst_proto", "0.0.0.0", length_from=lambda p: p.dst_proto_len),
        _EmbeddedPacketField(
            "packet",
            length_from=lambda p: max(0, _mandatory_len(p) - p.fixed_len - p.address_len()),
            cls_from=cls_from,
        ),
        PacketListField(
            "extensions",
            [],
            next_cls_cb=_ext_or_raw,
            length_from=lambda p: _extensions_len(p, p.fixed_len + p.address_len() + len(bytes(p.packet or b""))),
        ),
    ]


class NHRPErrorIndication(_NHRPBody):
    """Error Indication (RFC 2332 §5.2.7): "src" reports the error, "dst" sent the bad packet."""

    name = "NHRP Error Indication"
    op_type_default = C.PacketType.ERROR_INDICATION
    fields_desc = _indication_fields(
        [
            ShortField("unused", 0),
            ShortEnumField("error_code", 0, {m.value: m.name for m in C.ErrorCode}),
            ShortField("error_offset", 0),
        ],
        cls_from=lambda p, data: NHRP,
    )


class NHRPTrafficIndication(_NHRPBody):
    """Traffic Indication (draft-detienne-dmvpn-01 Fig. 4): the hub's redirect."""

    name = "NHRP Traffic Indication"
    op_type_default = C.PacketType.TRAFFIC_INDICATION
    fields_desc = _indication_fields(
        [
            ShortField("unused", 0),
            ShortEnumField("traffic_code", 0, {m.value: m.name for m in C.TrafficCode}),
            ShortField("unused2", 0),
        ],
        cls_from=_ti_packet_class,
    )


class NHRPUnknownBody(_NHRPBody):
    """The mandatory part of a packet type this layer does not know: kept as bytes."""

    name = "NHRP Unknown Mandatory Part"
    fields_desc = [
        StrLenField("data", b"", length_from=_mandatory_len),
        PacketListField(
            "extensions",
            [],
            next_cls_cb=_ext_or_raw,
            length_from=lambda p: _extensions_len(p, len(p.data or b"")),
        ),
    ]

    # No common header, so no addresses for the fixed header to size from.
    src_nbma = b""
    src_nbma_sub = b""
    src_proto = b""


_BODY_CLASSES: dict[int, type[_NHRPBody]] = {
    C.PacketType.RESOLUTION_REQUEST: NHRPResolutionRequest,
    C.PacketType.RESOLUTION_REPLY: NHRPResolutionReply,
    C.PacketType.REGISTRATION_REQUEST: NHRPRegistrationRequest,
    C.PacketType.REGISTRATION_REPLY: NHRPRegistrationReply,
    C.PacketType.PURGE_REQUEST: NHRPPurgeRequest,
    C.PacketType.PURGE_REPLY: NHRPPurgeReply,
    C.PacketType.ERROR_INDICATION: NHRPErrorIndication,
    C.PacketType.TRAFFIC_INDICATION: NHRPTrafficIndication,
}

for _op, _cls in _BODY_CLASSES.items():
    bind_layers(NHRP, _cls, op_type=int(_op))
bind_layers(GRE, NHRP, proto=C.GRE_PROTO_NHRP)
bind_layers(IP, NHRP, proto=C.IPPROTO_NARP)  # NHRP directly in IP (ENC-09), as Wireshark does

__all__ = [
    "NHRP",
    "NHRPCIE",
    "NHRPExtension",
    "NHRPExtUnknown",
    "NHRPExtEnd",
    "NHRPExtResponderAddress",
    "NHRPExtForwardTransit",
    "NHRPExtReverseTransit",
    "NHRPExtNATAddress",
    "NHRPExtDeviceCapabilities",
    "NHRPExtCiscoAuthentication",
    "NHRPExtAuthentication",
    "NHRPExtVendorPrivate",
    "NHRPResolutionRequest",
    "NHRPResolutionReply",
    "NHRPRegistrationRequest",
    "NHRPRegistrationReply",
    "NHRPPurgeRequest",
    "NHRPPurgeReply",
    "NHRPErrorIndication",
    "NHRPTrafficIndication",
    "NHRPUnknownBody",
    "address_to_bytes",
    "bytes_to_address",
]
