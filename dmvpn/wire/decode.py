"""Decoding that never raises: a packet plus the list of what is wrong with it.

Suites and the CLI decode whatever a DUT sends, including garbage. `decode_nhrp(data)` always
returns a `Decoded`: the dissected NHRP packet (as far as it goes), a list of problems in the
spirit of Wireshark's expert info (empty when the packet is well-formed), and the bytes that could
not be decoded, kept as they were.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Iterator

from scapy.layers.l2 import GRE
from scapy.packet import Packet, Raw

from dmvpn.wire import constants as C
from dmvpn.wire.checksum import nhrp_checksum_ok
from dmvpn.wire.nhrp import NHRP, NHRPCIE, NHRPErrorIndication, NHRPExtension, NHRPUnknownBody


@dataclass
class Decoded:
    """The result of decoding one NHRP packet."""

    packet: NHRP | None
    problems: list[str] = field(default_factory=list)
    #: bytes inside ar$pktsz that no field could take (truncated CIEs/extensions, short header)
    remainder: bytes = b""
    #: bytes after ar$pktsz (link padding, or trailing data sent on purpose)
    trailer: bytes = b""

    @property
    def malformed(self) -> bool:
        return bool(self.problems)

    @property
    def op_type(self) -> int | None:
        return None if self.packet is None else self.packet.op_type


def decode_nhrp(data: bytes) -> Decoded:
    """Decode `data` as an NHRP packet starting at the fixed header. Never raises."""
    data = bytes(data)
    if len(data) < C.NHRP_FIXED_HEADER_LEN:
        return Decoded(None, [f"truncated fixed header: {len(data)} of 20 bytes"], remainder=data)
    try:
        packet = NHRP(data)
    except Exception as exc:  # scapy raised on something we did not foresee: keep the bytes
        return Decoded(None, [f"undecodable: {type(exc).__name__}: {exc}"], remainder=data)
    decoded = Decoded(packet)
    try:
        _check(decoded, packet, data)
    except Exception as exc:
        decoded.problems.append(f"undecodable: {type(exc).__name__}: {exc}")
    return decoded


def decode_gre_payload(gre: GRE) -> Decoded:
    """Decode the NHRP packet carried by a dissected GRE packet (proto 0x2001)."""
    payload = gre.payload
    raw = bytes(payload) if not isinstance(payload, NHRP) else bytes(payload.original or payload)
    return decode_nhrp(raw)


def _check(decoded: Decoded, packet: NHRP, data: bytes) -> None:
    problems = decoded.problems
    pktsz, extoff = packet.pktsz, packet.extoff
    if pktsz < C.NHRP_FIXED_HEADER_LEN:
        problems.append(f"ar$pktsz {pktsz} is less than the fixed header length")
        decoded.remainder = data[C.NHRP_FIXED_HEADER_LEN :]
        return
    if pktsz > len(data):
        problems.append(f"ar$pktsz {pktsz} exceeds the {len(data)} bytes received")
    else:
        decoded.trailer = data[pktsz:]
        if not nhrp_checksum_ok(data[:pktsz]):
            problems.append("bad checksum")
    if extoff and (extoff < C.NHRP_FIXED_HEADER_LEN or extoff > pktsz):
        problems.append(f"ar$extoff {extoff} outside the packet (20..{pktsz})")
    if packet.version != C.NHRP_VERSION:
        problems.append(f"ar$op.version {packet.version} is not 1 (NHRP)")
    body = packet.payload
    if isinstance(body, NHRPUnknownBody) or not body:
        if packet.op_type not in C.PacketType._value2member_map_:
            problems.append(f"unknown packet type {packet.op_type}")
        return
    mand_end = min(extoff if extoff else pktsz, len(data))
    needed = C.NHRP_FIXED_HEADER_LEN + body.fixed_len + body.address_len()
    if needed > mand_end:
        problems.append(f"mandatory part needs {needed - 20} bytes, has {max(0, mand_end - 20)}")
    remainder = bytearray()
    for cie in getattr(body, "cies", []):
        if not isinstance(cie, NHRPCIE):
            problems.append(f"truncated CIE ({len(bytes(cie))} bytes)")
            remainder += bytes(cie)
        elif _declared_cie_len(cie) > len(bytes(cie)):
            problems.append("CIE addresses overrun the mandatory part")
    if isinstance(body, NHRPErrorIndication) and body.packet is not None and isinstance(body.packet, NHRP):
        inner = decode_nhrp(bytes(body.packet))
        problems.extend(f"in the packet in error: {p}" for p in inner.problems if p != "bad checksum")
    if extoff and isinstance(body, NHRPErrorIndication) and body.extensions:
        problems.append("extensions in an Error Indication (RFC 2332 §5.2.7)")
    seen_end = False
    for ext in _extensions(body):
        raw = bytes(ext)
        if not isinstance(ext, NHRPExtension):
            problems.append(f"truncated extension header ({len(raw)} bytes)")
            remainder += raw
            continue
        if seen_end:
            problems.append("data follows the End extension")
            break
        word, length = struct.unpack("!HH", raw[:4])
        if 4 + length > len(raw):
            problems.append(f"extension type {word & C.EXT_TYPE_MASK} length {length} runs past the packet")
            remainder += raw[4:]
        for cie in getattr(ext, "cies", []):
            if not isinstance(cie, NHRPCIE):
                problems.append(f"truncated CIE in extension type {word & C.EXT_TYPE_MASK}")
                remainder += bytes(cie)
        if word & C.EXT_TYPE_MASK == C.ExtensionType.END:
            seen_end = True
    decoded.remainder = bytes(remainder)


def _declared_cie_len(cie: NHRPCIE) -> int:
    return (
        C.NHRP_CIE_FIXED_LEN
        + ((cie.cli_addr_tl or 0) & C.TL_LEN_MASK)
        + ((cie.cli_saddr_tl or 0) & C.TL_LEN_MASK)
        + (cie.cli_proto_len or 0)
    )


def _extensions(body: Packet) -> Iterator[Packet]:
    yield from getattr(body, "extensions", [])


__all__ = ["Decoded", "decode_nhrp", "decode_gre_payload", "Raw"]
