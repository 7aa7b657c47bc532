"""NHRP packets as Wireshark's own field names and values.

`wireshark_fields(nhrp)` walks a dissected packet in the order Wireshark's NHRP dissector builds
its tree (fixed header, mandatory part, the packet inside an Error Indication, CIEs, extensions),
so the value lists line up with `tshark -T fields -E occurrence=a` and `tshark -T json -e ...`.
Units are tshark's: lengths in bytes, holding time in seconds, addresses as text, byte strings as
lowercase hex, booleans for flag bits. Where Wireshark reads a structure its own way (the RFC 2332
authentication layout for Cisco's plaintext password; a 4-byte address where the length is 4 and
raw bytes otherwise), this module reads it the same way: the point is to agree with the
independent dissector, not to reinterpret it.
"""

from __future__ import annotations

import struct
from typing import Any

from scapy.packet import Packet, Raw

from dmvpn.wire import constants as C
from dmvpn.wire.nhrp import (
    NHRP,
    NHRPCIE,
    NHRPErrorIndication,
    address_to_bytes,
)
from dmvpn.wire.checksum import nhrp_checksum_ok

#: Field name -> kind ("int", "bool", "ipv4", "bytes", "none"), as `tshark -G fields` types them.
FIELD_KINDS: dict[str, str] = {
    "nhrp.hdr.afn": "int",
    "nhrp.hdr.pro.type": "int",
    "nhrp.hdr.pro.snap.oui": "int",
    "nhrp.hdr.pro.snap.pid": "int",
    "nhrp.hdr.hopcnt": "int",
    "nhrp.hdr.pktsz": "int",
    "nhrp.hdr.chksum": "int",
    "nhrp.hdr.chksum.status": "int",
    "nhrp.hdr.extoff": "int",
    "nhrp.hdr.version": "int",
    "nhrp.hdr.op.type": "int",
    "nhrp.hdr.shtl": "int",
    "nhrp.hdr.shtl.type": "int",
    "nhrp.hdr.shtl.len": "int",
    "nhrp.hdr.sstl": "int",
    "nhrp.hdr.sstl.type": "int",
    "nhrp.hdr.sstl.len": "int",
    "nhrp.src.prot.len": "int",
    "nhrp.dst.prot.len": "int",
    "nhrp.flags": "int",
    "nhrp.flag.q": "bool",
    "nhrp.flag.n": "bool",
    "nhrp.flag.a": "bool",
    "nhrp.flag.d": "bool",
    "nhrp.flag.u": "bool",
    "nhrp.flag.s": "bool",
    "nhrp.flag.nat": "bool",
    "nhrp.reqid": "int",
    "nhrp.src.nbma.addr": "ipv4",
    "nhrp.src.nbma.saddr": "bytes",
    "nhrp.src.prot.addr": "ipv4",
    "nhrp.dst.prot.addr": "ipv4",
    "nhrp.code": "int",
    "nhrp.prefix": "int",
    "nhrp.unused": "int",
    "nhrp.mtu": "int",
    "nhrp.htime": "int",
    "nhrp.cli.addr_tl": "int",
    "nhrp.cli.addr_tl.type": "int",
    "nhrp.cli.addr_tl.len": "int",
    "nhrp.cli.saddr_tl": "int",
    "nhrp.cli.saddr_tl.type": "int",
    "nhrp.cli.saddr_tl.len": "int",
    "nhrp.prot.len": "int",
    "nhrp.pref": "int",
    "nhrp.client.nbma.addr": "ipv4",
    "nhrp.client.nbma.saddr": "bytes",
    "nhrp.client.prot.addr": "ipv4",
    "nhrp.ext.c": "bool",
    "nhrp.ext.type": "int",
    "nhrp.ext.len": "int",
    "nhrp.err.code": "int",
    "nhrp.err.offset": "int",
    "nhrp.auth_ext.reserved": "int",
    "nhrp.auth_ext.spi": "int",
    "nhrp.auth_ext.src_addr": "ipv4",
    "nhrp.vendor_ext.id": "int",
    "nhrp.devcap_ext.srccap": "int",
    "nhrp.devcap_ext.srccap.V": "bool",
    "nhrp.devcap_ext.dstcap": "int",
    "nhrp.devcap_ext.dstcap.V": "bool",
    "nhrp.unknown_ext.value": "bytes",
    "nhrp.protocol_type": "bytes",
    "nhrp.client.nbma.addr_bytes": "bytes",
    "nhrp.client.prot.addr_bytes": "bytes",
    "nhrp.src.nbma.addr_bytes": "bytes",
    "nhrp.src.prot.addr_bytes": "bytes",
    "nhrp.dst.prot.addr_byets": "bytes",  # sic: Wireshark's own spelling
    "nhrp.auth_ext.src_addr_bytes": "bytes",
    "nhrp.auth_ext.data": "bytes",
    "nhrp.vendor_ext.data": "bytes",
    "nhrp.hdr.pktsz.invalid": "none",
    "nhrp.hdr.extoff.invalid": "none",
    "nhrp.hdr.bad_checksum": "none",
    "nhrp.ext.not_allowed": "none",
    "nhrp.ext.malformed": "none",
    "nhrp.ext.extra": "none",
}

#: Wireshark's checksum status values (PROTO_CHECKSUM_E_*).
CHECKSUM_BAD, CHECKSUM_GOOD, CHECKSUM_UNVERIFIED = 0, 1, 2

_FLAG_FIELDS = {
    C.PacketType.RESOLUTION_REQUEST: (("q", 0x8000), ("a", 0x4000), ("d", 0x2000), ("u", 0x1000), ("s", 0x0800)),
    C.PacketType.REGISTRATION_REQUEST: (("u", 0x8000),),
    C.PacketType.PURGE_REQUEST: (("n", 0x8000),),
}
_FLAG_FIELDS[C.PacketType.RESOLUTION_REPLY] = _FLAG_FIELDS[C.PacketType.RESOLUTION_REQUEST]
_FLAG_FIELDS[C.PacketType.REGISTRATION_REPLY] = _FLAG_FIELDS[C.PacketType.REGISTRATION_REQUEST]
_FLAG_FIELDS[C.PacketType.PURGE_REPLY] = _FLAG_FIELDS[C.PacketType.PURGE_REQUEST]


class _Fields:
    """Ordered multimap of field name -> occurrences."""

    def __init__(self) -> None:
        self.values: dict[str, list[Any]] = {}

    def add(self, name: str, value: Any) -> None:
        self.values.setdefault(name, []).append(value)


def wireshark_fields(nhrp: NHRP, raw: bytes | None = None) -> dict[str, list[Any]]:
    """Every NHRP field Wireshark shows for `nhrp`, with all occurrences in tshark's order.

    `raw` is the NHRP packet as received (from the fixed header to the end of the GRE payload);
    when omitted it is rebuilt from `nhrp`.
    """
    out = _Fields()
    _packet(out, nhrp, bytes(nhrp) if raw is None else raw)
    return out.values


def flatten(fields: dict[str, list[Any]]) -> dict[str, Any]:
    """One occurrence as a scalar, several as a list (the `dmvpn decode --json` shape)."""
    return {name: values[0] if len(values) == 1 else values for name, values in fields.items()}


def _packet(out: _Fields, nhrp: NHRP, raw: bytes) -> None:
    pktsz = nhrp.pktsz or 0
    extoff = nhrp.extoff or 0
    op_type = nhrp.op_type
    out.add("nhrp.hdr.afn", nhrp.afn)
    out.add("nhrp.hdr.pro.type", nhrp.pro_type)
    snap = bytes(nhrp.pro_snap).ljust(5, b"\0")
    if nhrp.pro_type == C.ProtocolType.SNAP:
        out.add("nhrp.hdr.pro.snap.oui", int.from_bytes(snap[:3], "big"))
        out.add("nhrp.hdr.pro.snap.pid", int.from_bytes(snap[3:5], "big"))
    else:
        out.add("nhrp.protocol_type", snap.hex())
    out.add("nhrp.hdr.hopcnt", nhrp.hopcnt)
    out.add("nhrp.hdr.pktsz", pktsz)
    if pktsz < C.NHRP_FIXED_HEADER_LEN:
        out.add("nhrp.hdr.pktsz.invalid", None)
        return  # Wireshark stops dissecting here
    out.add("nhrp.hdr.chksum", nhrp.chksum)
    if len(raw) >= pktsz >= C.NHRP_FIXED_HEADER_LEN:
        good = nhrp_checksum_ok(raw[:pktsz])
        out.add("nhrp.hdr.chksum.status", CHECKSUM_GOOD if good else CHECKSUM_BAD)
        if not good:
            out.add("nhrp.hdr.bad_checksum", None)
    else:
        out.add("nhrp.hdr.chksum.status", CHECKSUM_UNVERIFIED)
    out.add("nhrp.hdr.extoff", extoff)
    extoff_invalid = bool(extoff) and (extoff < C.NHRP_FIXED_HEADER_LEN or extoff > pktsz)
    if extoff_invalid:
        out.add("nhrp.hdr.extoff.invalid", None)
    out.add("nhrp.hdr.version", nhrp.version)
    out.add("nhrp.hdr.op.type", op_type)
    for prefix, value in (("nhrp.hdr.shtl", nhrp.shtl or 0), ("nhrp.hdr.sstl", nhrp.sstl or 0)):
        out.add(prefix, value)
        out.add(prefix + ".type", (value & C.TL_TYPE_E164) >> 6)
        out.add(prefix + ".len", value & C.TL_LEN_MASK)

    if extoff_invalid:
        return  # Wireshark does not dissect the mandatory part or extensions then
    body = nhrp.payload
    mand_end = extoff if extoff else pktsz
    if mand_end > C.NHRP_FIXED_HEADER_LEN and hasattr(body, "src_proto_len"):
        _mandatory(out, nhrp, body)
    if extoff and hasattr(body, "extensions"):
        _extensions(out, body, op_type)


def _address(out: _Fields, name: str, bytes_name: str, value: Any) -> None:
    raw = address_to_bytes(value)
    if not raw:
        return
    if len(raw) == 4:
        out.add(name, ".".join(str(b) for b in raw))
    else:
        out.add(bytes_name, raw.hex())


def _mandatory(out: _Fields, nhrp: NHRP, body: Packet) -> None:
    op_type = nhrp.op_type
    out.add("nhrp.src.prot.len", body.src_proto_len)
    out.add("nhrp.dst.prot.len", body.dst_proto_len)
    if op_type in C.COMMON_HEADER_TYPES:
        flags = int(body.flags)
        out.add("nhrp.flags", flags)
        for letter, mask in _FLAG_FIELDS[op_type]:
            out.add(f"nhrp.flag.{letter}", bool(flags & mask))
        out.add("nhrp.flag.nat", bool(flags & C.ResolutionFlags.NAT))
        out.add("nhrp.reqid", body.reqid)
    elif op_type == C.PacketType.ERROR_INDICATION:
        out.add("nhrp.err.code", body.error_code)
        out.add("nhrp.err.offset", body.error_offset)
    _address(out, "nhrp.src.nbma.addr", "nhrp.src.nbma.addr_bytes", body.src_nbma)
    sub = address_to_bytes(body.src_nbma_sub)
    if sub:
        out.add("nhrp.src.nbma.saddr", sub.hex())
    _address(out, "nhrp.src.prot.addr", "nhrp.src.prot.addr_bytes", body.src_proto)
    _address(out, "nhrp.dst.prot.addr", "nhrp.dst.prot.addr_byets", body.dst_proto)
    if isinstance(body, NHRPErrorIndication):
        inner = body.packet
        if isinstance(inner, NHRP):
            _packet(out, inner, bytes(inner))
    for cie in getattr(body, "cies", []):
        _cie(out, cie)


def _cie(out: _Fields, cie: Packet) -> None:
    if not isinstance(cie, NHRPCIE):
        return  # a truncated CIE: Wireshark stops before it too
    out.add("nhrp.code", cie.code)
    out.add("nhrp.prefix", cie.prefix_len)
    out.add("nhrp.unused", cie.unused)
    out.add("nhrp.mtu", cie.mtu)
    out.add("nhrp.htime", cie.holding_time)
    for prefix, value in (("nhrp.cli.addr_tl", cie.cli_addr_tl or 0), ("nhrp.cli.saddr_tl", cie.cli_saddr_tl or 0)):
        out.add(prefix, value)
        out.add(prefix + ".type", (value & C.TL_TYPE_E164) >> 6)
        out.add(prefix + ".len", value & C.TL_LEN_MASK)
    out.add("nhrp.prot.len", cie.cli_proto_len or 0)
    out.add("nhrp.pref", cie.preference)
    _address(out, "nhrp.client.nbma.addr", "nhrp.client.nbma.addr_bytes", cie.client_nbma)
    sub = address_to_bytes(cie.client_nbma_sub)
    if sub:
        out.add("nhrp.client.nbma.saddr", sub.hex())
    _address(out, "nhrp.client.prot.addr", "nhrp.client.prot.addr_bytes", cie.client_proto)


def _extensions(out: _Fields, body: Packet, op_type: int) -> None:
    src_proto_len = getattr(body, "src_proto_len", 0) or 0
    seen_end = False
    for ext in body.extensions:
        raw = bytes(ext)
        if isinstance(ext, Raw) or len(raw) < C.NHRP_EXT_HEADER_LEN:
            break
        if seen_end:
            out.add("nhrp.ext.extra", None)
            break
        word, length = struct.unpack("!HH", raw[:4])
        ext_type = word & C.EXT_TYPE_MASK
        value = raw[4 : 4 + length]
        out.add("nhrp.ext.c", bool(word & C.EXT_COMPULSORY))
        out.add("nhrp.ext.type", ext_type)
        out.add("nhrp.ext.len", length)
        if op_type == C.PacketType.ERROR_INDICATION:
            out.add("nhrp.ext.not_allowed", None)
        if ext_type == C.ExtensionType.END:
            seen_end = True
        if not length:
            continue
        if ext_type in C.CIE_LIST_EXTENSIONS and not (ext_type == C.ExtensionType.NAT_ADDRESS and length == 8):
            for cie in getattr(ext, "cies", []):
                _cie(out, cie)
        elif ext_type == C.ExtensionType.NAT_ADDRESS:  # length 8: RFC 2735 device capabilities
            src, dst = struct.unpack("!II", value[:8].ljust(8, b"\0"))
            out.add("nhrp.devcap_ext.srccap", src)
            out.add("nhrp.devcap_ext.srccap.V", bool(src & 1))
            out.add("nhrp.devcap_ext.dstcap", dst)
            out.add("nhrp.devcap_ext.dstcap.V", bool(dst & 1))
        elif ext_type == C.ExtensionType.AUTHENTICATION:
            _auth(out, value, src_proto_len)
        elif ext_type == C.ExtensionType.VENDOR_PRIVATE:
            out.add("nhrp.vendor_ext.id", int.from_bytes(value[:3], "big"))
            if len(value) > 3:
                out.add("nhrp.vendor_ext.data", value[3:].hex())
        else:
            out.add("nhrp.unknown_ext.value", value.hex())


def _auth(out: _Fields, value: bytes, src_proto_len: int) -> None:
    """Wireshark's default reading: Reserved, SPI, Source Address (src proto length), Data."""
    if len(value) < 4 + src_proto_len:
        out.add("nhrp.ext.malformed", None)
        return
    reserved, spi = struct.unpack("!HH", value[:4])
    out.add("nhrp.auth_ext.reserved", reserved)
    out.add("nhrp.auth_ext.spi", spi)
    src = value[4 : 4 + src_proto_len]
    if src_proto_len == 4:
        out.add("nhrp.auth_ext.src_addr", ".".join(str(b) for b in src))
    elif src_proto_len:
        out.add("nhrp.auth_ext.src_addr_bytes", src.hex())
    data = value[4 + src_proto_len :]
    if data:
        out.add("nhrp.auth_ext.data", data.hex())


def normalise_tshark_value(name: str, text: str) -> Any:
    """A value as `tshark -T json -e NAME` prints it, in this module's types."""
    kind = FIELD_KINDS.get(name, "bytes")
    if kind == "int":
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    if kind == "bool":
        return text.lower() in ("1", "true")
    if kind == "none":
        return None
    if kind == "bytes":
        return text.replace(":", "").lower()
    return text
