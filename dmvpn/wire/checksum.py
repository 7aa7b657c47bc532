"""The Internet checksum as RFC 2332 §5.1 applies it to NHRP (and RFC 791 to IPv4). No scapy."""

from __future__ import annotations


def inet_checksum(data: bytes) -> int:
    """RFC 1071 checksum to store in a header; an odd length is padded with one zero byte."""
    if len(data) & 1:
        data = bytes(data) + b"\0"
    total = int.from_bytes(data, "big")
    # Fold the big integer 16 bits at a time: sum of all 16-bit words modulo 0xFFFF.
    total = total % 0xFFFF if total else 0
    # x mod 0xFFFF maps a non-zero multiple of 0xFFFF to 0, where one's complement keeps 0xFFFF.
    if total == 0 and any(data):
        total = 0xFFFF
    return (~total) & 0xFFFF


def nhrp_checksum_ok(packet: bytes) -> bool:
    """True when the checksum of the NHRP packet (exactly ar$pktsz bytes) verifies."""
    return inet_checksum(packet) == 0
