"""ESP (RFC 4303) as DMVPN uses it, at speed: transport mode around GRE, tunnel mode, NAT-T.

Scapy-free: `cryptography` is called directly, so one packet costs microseconds (scapy's
SecurityAssociation, the reference the tests hold this to, costs about a millisecond). Algorithms:
AES-GCM with 16-byte ICV (RFC 4106; key = AES key + 4-byte salt), and AES-CBC with HMAC-SHA1-96 or
HMAC-SHA2-256-128 (RFC 3602, 2404, 4868). Sequence numbers count up per SA (with ESN, 64 bits of
which the low 32 travel, RFC 4303 §2.2.1); the inbound side keeps the anti-replay window of §3.4.3
(64 by default; the RFC requires at least 32).

NAT-T (RFC 3948): ESP inside UDP 4500->4500 with checksum 0; `nat_keepalive()` is the one-byte
0xFF packet a receiver ignores; `NON_ESP_MARKER` prefixes IKE on port 4500.

Packets are IPv4 as bytes: `protect(ip_packet)` returns the ESP packet, `unprotect(esp_packet)`
the original, or raises `EspError` (IntegrityError, ReplayError, ...).
"""

from __future__ import annotations

import hmac
import os
import struct
from dataclasses import dataclass
from hashlib import sha1, sha256

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dmvpn.wire.checksum import inet_checksum

IPPROTO_ESP = 50
IPPROTO_UDP = 17
IPPROTO_IPIP = 4
NAT_T_PORT = 4500
NON_ESP_MARKER = b"\x00\x00\x00\x00"


def nat_keepalive(src: str, dst: str, sport: int = NAT_T_PORT, dport: int = NAT_T_PORT) -> bytes:
    """RFC 3948 §2.3: a UDP datagram carrying the single octet 0xFF."""
    udp = struct.pack("!HHHH", sport, dport, 9, 0) + b"\xff"
    return _ipv4(src, dst, IPPROTO_UDP, udp)


class EspError(ValueError):
    """Malformed ESP, or a packet the SA refuses."""


class IntegrityError(EspError):
    """The ICV does not verify (RFC 4303 §3.4.4)."""


class ReplayError(EspError):
    """A sequence number already seen or left of the window (RFC 4303 §3.4.3)."""


class UnknownSpi(EspError):
    """The SPI is not this SA's."""


@dataclass(frozen=True)
class Algorithm:
    name: str
    aead: bool
    key_len: int  # encryption key bytes (without the GCM salt)
    iv_len: int
    block: int  # padding alignment of the encrypted part
    icv_len: int
    digest: object = None  # hashlib constructor for HMAC


ALGORITHMS = {
    "aes-gcm-128": Algorithm("aes-gcm-128", True, 16, 8, 4, 16),
    "aes-gcm-256": Algorithm("aes-gcm-256", True, 32, 8, 4, 16),
    "aes-cbc-128-hmac-sha1-96": Algorithm("aes-cbc-128-hmac-sha1-96", False, 16, 16, 16, 12, sha1),
    "aes-cbc-256-hmac-sha1-96": Algorithm("aes-cbc-256-hmac-sha1-96", False, 32, 16, 16, 12, sha1),
    "aes-cbc-128-hmac-sha256-128": Algorithm("aes-cbc-128-hmac-sha256-128", False, 16, 16, 16, 16, sha256),
    "aes-cbc-256-hmac-sha256-128": Algorithm("aes-cbc-256-hmac-sha256-128", False, 32, 16, 16, 16, sha256),
}


def _ipv4(src: str | bytes, dst: str | bytes, proto: int, payload: bytes, ttl: int = 64, ident: int = 0, tos: int = 0) -> bytes:
    s = src if isinstance(src, bytes) else bytes(int(x) for x in src.split("."))
    d = dst if isinstance(dst, bytes) else bytes(int(x) for x in dst.split("."))
    header = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(payload), ident, 0, ttl, proto, 0, s, d))
    struct.pack_into("!H", header, 10, inet_checksum(header))
    return bytes(header) + payload


def _with_header(ip_header: bytes, proto: int, payload: bytes) -> bytes:
    header = bytearray(ip_header)
    header[9] = proto
    struct.pack_into("!H", header, 2, len(header) + len(payload))
    header[10:12] = b"\0\0"
    struct.pack_into("!H", header, 10, inet_checksum(header))
    return bytes(header) + payload


class ReplayWindow:
    """RFC 4303 §3.4.3 and Appendix A2: a sliding window of `size` sequence numbers (64-bit, ESN-ready)."""

    def __init__(self, size: int = 64) -> None:
        if size < 32:
            raise ValueError("RFC 4303 §3.4.3: the window MUST be at least 32")
        self.size = size
        self.top = 0  # highest authenticated sequence number
        self.bits = 0  # bit i set: top - i was received

    def check(self, seq: int) -> None:
        """Raise ReplayError if `seq` must be dropped (call before integrity check, update after)."""
        if seq == 0 and self.top == 0:
            raise ReplayError("sequence number 0 is never sent")
        if seq > self.top:
            return
        offset = self.top - seq
        if offset >= self.size:
            raise ReplayError(f"sequence number {seq} is left of the window (top {self.top})")
        if self.bits >> offset & 1:
            raise ReplayError(f"sequence number {seq} was already received")

    def update(self, seq: int) -> None:
        if seq > self.top:
            shift = seq - self.top
            self.bits = ((self.bits << shift) | 1) & ((1 << self.size) - 1) if shift < self.size else 1
            self.top = seq
        else:
            self.bits |= 1 << (self.top - seq)


@dataclass
class Unprotected:
    spi: int
    seq: int  # the full (ESN) sequence number
    next_header: int
    packet: bytes  # transport: the original IPv4 packet; tunnel: the inner IPv4 packet


class EspSA:
    """One direction of an ESP security association (keep one for each way)."""

    def __init__(
        self,
        spi: int,
        algorithm: str,
        key: bytes,
        auth_key: bytes = b"",
        seq: int = 1,
        esn: bool = False,
        mode: str = "transport",
        tunnel: tuple[str, str] | None = None,
        nat_t: tuple[int, int] | None = None,
        replay_window: int = 64,
        allow_reserved_spi: bool = False,  # for crafting packets a DUT must refuse
    ) -> None:
        if not (0 <= spi <= 0xFFFFFFFF if allow_reserved_spi else 256 <= spi <= 0xFFFFFFFF):
            raise EspError(f"SPI {spi:#x}: 1-255 are reserved and 0 is never sent (RFC 4303 §2.1)")
        if algorithm not in ALGORITHMS:
            raise EspError(f"unknown algorithm {algorithm!r} (known: {', '.join(ALGORITHMS)})")
        self.algo = algo = ALGORITHMS[algorithm]
        if algo.aead:
            if len(key) != algo.key_len + 4:
                raise EspError(f"{algorithm} needs a {algo.key_len}-byte key and a 4-byte salt ({algo.key_len + 4} bytes)")
            self._aead = AESGCM(key[:-4])
            self.salt = key[-4:]
        else:
            if len(key) != algo.key_len:
                raise EspError(f"{algorithm} needs a {algo.key_len}-byte key")
            if not auth_key:
                raise EspError(f"{algorithm} needs an authentication key")
            self._aes = algorithms.AES(key)
            self._mac = hmac.new(auth_key, digestmod=algo.digest)
        if mode not in ("transport", "tunnel"):
            raise EspError("mode is transport or tunnel")
        if mode == "tunnel" and tunnel is None:
            raise EspError("tunnel mode needs the outer (src, dst)")
        self.spi = spi
        self.key_material = key  # as given (with the GCM salt): lets a test build a look-alike SA
        self.seq = seq  # the next sequence number to send (64-bit with ESN)
        self.esn = esn
        self.mode = mode
        self.tunnel = tunnel
        self.nat_t = nat_t
        self.window = ReplayWindow(replay_window)
        self._spi_bytes = struct.pack("!I", spi)

    # -- outbound ------------------------------------------------------------------------------

    def protect(self, ip_packet: bytes, iv: bytes | None = None, seq: int | None = None) -> bytes:
        """ESP-protect an IPv4 packet (transport: its payload; tunnel: all of it)."""
        algo = self.algo
        if seq is None:
            seq = self.seq
            if not self.esn and seq > 0xFFFFFFFF:
                raise EspError("sequence number space exhausted: rekey (RFC 4303 §3.3.3)")
            self.seq += 1
        ihl = (ip_packet[0] & 0x0F) * 4
        if self.mode == "transport":
            header, payload, next_header = ip_packet[:ihl], ip_packet[ihl:], ip_packet[9]
        else:
            header, payload, next_header = None, ip_packet, IPPROTO_IPIP
        pad_len = -(len(payload) + 2) % algo.block
        plain = payload + bytes(range(1, pad_len + 1)) + bytes((pad_len, next_header))
        low = seq & 0xFFFFFFFF
        esp_header = self._spi_bytes + struct.pack("!I", low)
        if algo.aead:
            iv = iv if iv is not None else struct.pack("!Q", seq)
            aad = esp_header if not self.esn else self._spi_bytes + struct.pack("!II", seq >> 32, low)
            body = iv + self._aead.encrypt(self.salt + iv, plain, aad)
            esp = esp_header + body
        else:
            iv = iv if iv is not None else os.urandom(16)
            encryptor = Cipher(self._aes, modes.CBC(iv)).encryptor()
            esp = esp_header + iv + encryptor.update(plain) + encryptor.finalize()
            mac = self._mac.copy()
            mac.update(esp)
            if self.esn:
                mac.update(struct.pack("!I", seq >> 32))
            esp += mac.digest()[: algo.icv_len]
        return self._frame(header, esp, ip_packet)

    def _frame(self, header: bytes | None, esp: bytes, original: bytes) -> bytes:
        if self.nat_t is not None:
            sport, dport = self.nat_t
            payload = struct.pack("!HHHH", sport, dport, 8 + len(esp), 0) + esp  # checksum 0 (RFC 3948 §2.1)
            proto = IPPROTO_UDP
        else:
            payload, proto = esp, IPPROTO_ESP
        if header is not None:
            return _with_header(header, proto, payload)
        src, dst = self.tunnel
        return _ipv4(src, dst, proto, payload, ttl=64, ident=1)  # scapy's IP() defaults: the reference

    # -- inbound -------------------------------------------------------------------------------

    def unprotect(self, packet: bytes) -> Unprotected:
        """Check and decrypt an ESP packet (IPv4, optionally in UDP 4500) addressed to this SA."""
        if len(packet) < 20:
            raise EspError("shorter than an IPv4 header")
        ihl = (packet[0] & 0x0F) * 4
        proto = packet[9]
        body = packet[ihl:]
        if proto == IPPROTO_UDP:
            if len(body) < 8:
                raise EspError("truncated UDP header")
            body = body[8:]
            if body == b"\xff":
                raise EspError("a NAT-keepalive, not ESP (RFC 3948 §2.3)")
            if body[:4] == NON_ESP_MARKER:
                raise EspError("a non-ESP marker: IKE, not ESP (RFC 3948 §2.2)")
        elif proto != IPPROTO_ESP:
            raise EspError(f"IP protocol {proto} is not ESP")
        algo = self.algo
        if len(body) < 8 + algo.iv_len + algo.icv_len + 2:
            raise EspError("ESP packet too short for this SA")
        spi, low = struct.unpack_from("!II", body)
        if spi != self.spi:
            raise UnknownSpi(f"SPI {spi:#x} is not {self.spi:#x}")
        seq = self._full_seq(low)
        self.window.check(seq)
        iv = body[8 : 8 + algo.iv_len]
        if algo.aead:
            aad = body[:8] if not self.esn else self._spi_bytes + struct.pack("!II", seq >> 32, low)
            try:
                plain = self._aead.decrypt(self.salt + iv, body[8 + algo.iv_len :], aad)
            except Exception:
                raise IntegrityError(f"ICV does not verify (SPI {spi:#x}, seq {seq})") from None
        else:
            icv = body[-algo.icv_len :]
            mac = self._mac.copy()
            mac.update(body[: -algo.icv_len])
            if self.esn:
                mac.update(struct.pack("!I", seq >> 32))
            if not hmac.compare_digest(mac.digest()[: algo.icv_len], icv):
                raise IntegrityError(f"ICV does not verify (SPI {spi:#x}, seq {seq})")
            ciphertext = body[8 + algo.iv_len : -algo.icv_len]
            if len(ciphertext) % 16:
                raise EspError("ciphertext is not a whole number of AES blocks")
            decryptor = Cipher(self._aes, modes.CBC(iv)).decryptor()
            plain = decryptor.update(ciphertext) + decryptor.finalize()
        self.window.update(seq)  # only authenticated packets move the window (§3.4.3)
        pad_len, next_header = plain[-2], plain[-1]
        if pad_len + 2 > len(plain):
            raise EspError("pad length larger than the payload")
        payload = plain[: -2 - pad_len]
        if self.mode == "transport":
            return Unprotected(spi, seq, next_header, _with_header(packet[:ihl], next_header, payload))
        return Unprotected(spi, seq, next_header, payload)

    def _full_seq(self, low: int) -> int:
        """RFC 4303 Appendix A2.2: infer the high 32 bits of an ESN from the window's position."""
        if not self.esn:
            return low
        top = self.window.top
        top_low, top_high = top & 0xFFFFFFFF, top >> 32
        bottom_low = (top - self.window.size + 1) & 0xFFFFFFFF
        if top_low >= self.window.size - 1:  # window within one subspace
            high = top_high + 1 if low < bottom_low else top_high
        else:  # window spans two subspaces
            high = top_high - 1 if low >= bottom_low else top_high
        return (max(high, 0) << 32) | low
