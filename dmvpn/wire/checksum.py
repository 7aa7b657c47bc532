"""The Internet checksum as RFC 2332 §5.1 applies it to NHRP (and RFC 791 to IPv4). No scapy."""

from __future__ import annotations


def inet_checksum(data: bytes | bytearray | memoryview) -> int:
    """RFC 1071 checksum, the value to store in the header (one's complement of the one's complement sum).

    An odd length is summed as if a zero byte were appended, which is exactly RFC 2332 §5.1's rule for
    the NHRP checksum over ar$pktsz bytes. Verifying: the checksum of data that already holds a correct
    checksum is 0.

    Fast path: read the whole buffer as one big-endian integer; since 2**16 == 1 (mod 0xFFFF), its
    residue mod 0xFFFF is the one's complement sum of its 16-bit words (about 4x faster than summing
    struct-unpacked words). A residue of 0 means the folded sum is 0xFFFF, unless the data is all
    zeros (folded sum 0).
    """
    n = int.from_bytes(data, "big")
    if len(data) & 1:
        n <<= 8
    r = n % 0xFFFF
    if r == 0 and n:
        return 0
    return ~r & 0xFFFF


def checksum_adjust(checksum: int, old_word: int, new_word: int) -> int:
    """RFC 1624 eqn. 3: the stored checksum after one 16-bit word of the covered data changes."""
    s = (~checksum & 0xFFFF) + (~old_word & 0xFFFF) + new_word
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def nhrp_checksum_ok(packet: bytes) -> bool:
    """True when the checksum of the NHRP packet (exactly ar$pktsz bytes) verifies."""
    return inet_checksum(packet) == 0
