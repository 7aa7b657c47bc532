"""Minimal ESP for load profiles: AES-GCM-128 (RFC 4106), IPv4 transport mode (RFC 4303), NAT-T optional.

A stop-gap, scapy-free and deliberately small, so TRex profiles can precompute ESP packets; the
project's own ESP module will replace it (keep callers on `EspGcmTransportSa.protect` /
`.unprotect` and swapping is a one-line change).

Wire format of `protect(ip_packet)` (the input's IPv4 header is kept, options included):
  IPv4 (protocol 50, or 17 with NAT-T) [UDP 4500->4500, checksum 0]
  ESP: SPI(4) | sequence number(4) | IV(8) | ciphertext | ICV(16)
  plaintext = original IP payload | padding 1,2,3.. | pad length | next header (original protocol)
with the plaintext padded to a multiple of 4 bytes (RFC 4303 §2.4, GCM needs no block alignment),
nonce = 4-byte salt || 8-byte IV (RFC 4106 §4) and AAD = SPI || sequence number (§5, no ESN).
The IV defaults to the sequence number as a 64-bit counter (RFC 4106 §3.1 allows any
non-repeating IV; a counter never repeats within one SA). Uses `cryptography`'s AESGCM directly
(about 3 µs a packet here; scapy's SecurityAssociation takes ~1.5 ms).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dmvpn.wire.checksum import inet_checksum

IPPROTO_ESP = 50
IPPROTO_UDP = 17
NAT_T_PORT = 4500
ICV_LEN = 16
IV_LEN = 8
SEQ_MAX = 0xFFFFFFFF  # without ESN the 32-bit counter must not cycle (RFC 4303 §3.3.3)


class EspError(ValueError):
    """Malformed input, exhausted sequence numbers, or an ICV that does not verify."""


@dataclass(frozen=True)
class Unprotected:
    spi: int
    seq: int
    iv: bytes
    next_header: int
    packet: bytes  # the original IPv4 packet (header restored)


class EspGcmTransportSa:
    """One outbound (or, for checks, inbound) SA: SPI, 16-byte key, 4-byte salt, next sequence number."""

    def __init__(self, spi: int, key: bytes, salt: bytes, seq: int = 1, nat_t: bool = False) -> None:
        if not 256 <= spi <= 0xFFFFFFFF:
            raise EspError(f"SPI {spi:#x}: 0-255 are reserved (RFC 4303 §2.1)")
        if len(key) != 16:
            raise EspError(f"AES-GCM-128 needs a 16-byte key, got {len(key)}")
        if len(salt) != 4:
            raise EspError(f"RFC 4106 salt is 4 bytes, got {len(salt)}")
        if not 1 <= seq <= SEQ_MAX:
            raise EspError(f"first sequence number {seq} out of 1-{SEQ_MAX}")
        self.spi = spi
        self.key = bytes(key)
        self.salt = bytes(salt)
        self.seq = seq
        self.nat_t = nat_t
        self._aead = AESGCM(self.key)

    def protect(self, ip_packet: bytes, seq: int | None = None, iv: bytes | None = None) -> bytes:
        """The ESP-protected IPv4 packet; uses and advances the SA's counter unless `seq` is given."""
        if seq is None:
            seq = self.seq
            if seq > SEQ_MAX:
                raise EspError("sequence numbers exhausted: re-key (no ESN here)")
            self.seq += 1
        if iv is None:
            iv = struct.pack("!Q", seq)
        if len(iv) != IV_LEN:
            raise EspError(f"IV must be {IV_LEN} bytes")
        if len(ip_packet) < 20 or ip_packet[0] >> 4 != 4:
            raise EspError("not an IPv4 packet")
        ihl = (ip_packet[0] & 0x0F) * 4
        total = struct.unpack_from("!H", ip_packet, 2)[0]
        header, payload = bytearray(ip_packet[:ihl]), ip_packet[ihl:total]
        next_header = header[9]
        pad_len = (-(len(payload) + 2)) % 4
        plaintext = payload + bytes(range(1, pad_len + 1)) + bytes((pad_len, next_header))
        esp_head = struct.pack("!II", self.spi, seq)
        sealed = self._aead.encrypt(self.salt + iv, plaintext, esp_head)
        esp = esp_head + iv + sealed
        if self.nat_t:
            esp = struct.pack("!HHHH", NAT_T_PORT, NAT_T_PORT, 8 + len(esp), 0) + esp
            header[9] = IPPROTO_UDP
        else:
            header[9] = IPPROTO_ESP
        new_total = ihl + len(esp)
        if new_total > 0xFFFF:
            raise EspError(f"protected packet would be {new_total} bytes")
        struct.pack_into("!H", header, 2, new_total)
        struct.pack_into("!H", header, 10, 0)
        struct.pack_into("!H", header, 10, inet_checksum(header))
        return bytes(header) + esp

    def unprotect(self, ip_packet: bytes) -> Unprotected:
        """Verify and decrypt a packet made by `protect` (for tests and receivers); EspError on a bad ICV."""
        ihl = (ip_packet[0] & 0x0F) * 4
        total = struct.unpack_from("!H", ip_packet, 2)[0]
        header, body = bytearray(ip_packet[:ihl]), ip_packet[ihl:total]
        if header[9] == IPPROTO_UDP:
            sport, dport = struct.unpack_from("!HH", body)
            if dport != NAT_T_PORT:
                raise EspError(f"UDP to port {dport} is not NAT-T ESP")
            body = body[8:]
        elif header[9] != IPPROTO_ESP:
            raise EspError(f"IP protocol {header[9]} is not ESP")
        if len(body) < 8 + IV_LEN + ICV_LEN + 2:
            raise EspError("ESP packet too short")
        spi, seq = struct.unpack_from("!II", body)
        if spi != self.spi:
            raise EspError(f"SPI {spi:#x} is not this SA's {self.spi:#x}")
        iv = body[8 : 8 + IV_LEN]
        try:
            plaintext = self._aead.decrypt(self.salt + iv, body[8 + IV_LEN :], body[:8])
        except Exception as exc:  # cryptography.exceptions.InvalidTag
            raise EspError(f"ICV check failed for seq {seq}") from exc
        pad_len, next_header = plaintext[-2], plaintext[-1]
        payload = plaintext[: len(plaintext) - 2 - pad_len]
        if plaintext[len(payload) : len(plaintext) - 2] != bytes(range(1, pad_len + 1)):
            raise EspError("padding is not 1, 2, 3, ... (RFC 4303 §2.4)")
        header[9] = next_header
        struct.pack_into("!H", header, 2, ihl + len(payload))
        struct.pack_into("!H", header, 10, 0)
        struct.pack_into("!H", header, 10, inet_checksum(header))
        return Unprotected(spi, seq, bytes(iv), next_header, bytes(header) + payload)
