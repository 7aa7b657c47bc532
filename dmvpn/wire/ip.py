"""Plain IPv4, IPv6, GRE and ICMP echo builders: exact bytes for the packets around and beside NHRP.

The NHRP templates (`dmvpn.wire.templates`) build the DMVPN packets themselves; these build what a
test sends that is no NHRP packet or breaks the GRE header on purpose: data packets (ICMP echoes)
and GRE headers with any flags, version, checksum, key and sequence number (RFC 2784 §2, RFC 2890
§2). Checksums are right unless a caller asks otherwise; nothing is validated.
"""

from __future__ import annotations

import socket
import struct

from dmvpn.wire.checksum import inet_checksum
from dmvpn.wire.constants import GRE_FLAG_CHECKSUM, GRE_FLAG_KEY, GRE_FLAG_SEQUENCE, GRE_PROTO_NHRP

__all__ = ["ICMP_ECHO", "ICMPV6_ECHO", "gre", "icmp_echo", "ipv4", "ipv6"]

ICMP_ECHO = 8
ICMPV6_ECHO = 128

_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_ECHO = struct.Struct("!BBHHH")


def _v4(address: str | bytes) -> bytes:
    return socket.inet_aton(address) if isinstance(address, str) else bytes(address)


def _v6(address: str | bytes) -> bytes:
    return socket.inet_pton(socket.AF_INET6, address) if isinstance(address, str) else bytes(address)


def ipv4(src: str | bytes, dst: str | bytes, payload: bytes, proto: int, ttl: int = 64, ident: int = 1, tos: int = 0, df: bool = False) -> bytes:
    """An IPv4 packet (20-byte header, header checksum right) around `payload` with IP protocol `proto`."""
    header = bytearray(_IPV4.pack(0x45, tos, 20 + len(payload), ident, 0x4000 if df else 0, ttl, proto, 0, _v4(src), _v4(dst)))
    struct.pack_into("!H", header, 10, inet_checksum(bytes(header)))
    return bytes(header) + bytes(payload)


def ipv6(src: str | bytes, dst: str | bytes, payload: bytes, next_header: int, hop_limit: int = 64) -> bytes:
    """An IPv6 packet (no extension headers, traffic class and flow label 0) around `payload`."""
    return _IPV6.pack(6 << 28, len(payload), next_header, hop_limit, _v6(src), _v6(dst)) + bytes(payload)


def gre(
    payload: bytes, *, proto: int = GRE_PROTO_NHRP, key: int | None = None, seq: int | None = None,
    checksum: str | int | None = None, flags: int = 0, version: int = 0,
) -> bytes:
    """A GRE header with exactly these fields, then `payload`.

    `flags`: reserved bits of the first word to set (K, S, C and the version come from the other
    arguments); `key` / `seq`: None for none; `checksum`: None for no checksum field, "auto" for the
    correct one (over header and payload), an int for that value.
    """
    word = (flags or 0) | version
    if key is not None:
        word |= GRE_FLAG_KEY
    if seq is not None:
        word |= GRE_FLAG_SEQUENCE
    if checksum is not None:
        word |= GRE_FLAG_CHECKSUM
    header = struct.pack("!HH", word, proto)
    if checksum is not None:
        header += b"\0\0\0\0"  # Checksum, Reserved1
    if key is not None:
        header += struct.pack("!I", key)
    if seq is not None:
        header += struct.pack("!I", seq)
    body = bytearray(header + bytes(payload))
    if checksum is not None:
        struct.pack_into("!H", body, 4, inet_checksum(bytes(body)) if checksum == "auto" else checksum)
    return bytes(body)


def icmp_echo(ident: int, seq: int, data: bytes = b"", icmp_type: int = ICMP_ECHO, checksum: bool = True) -> bytes:
    """An ICMP echo request (ICMPv6 with `icmp_type=ICMPV6_ECHO`); `checksum=False` leaves it 0
    (ICMPv6's covers a pseudo-header: left to whoever needs it right)."""
    message = bytearray(_ECHO.pack(icmp_type, 0, 0, ident, seq)) + bytes(data)
    if checksum:
        struct.pack_into("!H", message, 2, inet_checksum(bytes(message)))
    return bytes(message)
