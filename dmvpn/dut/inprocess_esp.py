"""An in-process hub behind ESP, with faults: the self-tests' DUT for the ESP cases.

The fake NHS sits behind a fake kernel that does what RFC 4303/3948 ask of an ESP receiver
(integrity check, anti-replay window, SPI lookup, selector check, NAT-T decapsulation, keepalive
handling); each fault breaks one of those the way a buggy stack would.
"""

from __future__ import annotations

import collections
import struct
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from dmvpn.wire.esp import IPPROTO_UDP, EspError, EspSA, IntegrityError, UnknownSpi

from . import InProcessDut
from .capability import Capability

ESP_FAULTS = frozenset(
    {
        "no-icv-check",  # decrypts and processes packets whose ICV does not verify
        "no-replay-check",  # no anti-replay window
        "accept-any-spi",  # an unknown SPI is taken as the tester's SA
        "no-selector-check",  # a decrypted non-GRE payload is processed as GRE
        "reply-in-clear",  # answers ESP-protected requests with plain GRE
        "no-nat-t",  # ESP in UDP 4500 is not decapsulated
        "keepalive-is-esp",  # a NAT-keepalive is processed as a (broken) ESP packet and crashes the NHS
    }
)

TESTER, TESTER_NAT_T = "192.0.2.250", "198.51.100.250"
KEY = bytes(range(1, 21))  # AES-128 + salt, the same both ways (a test key)


def _gcm_decrypt_unauthenticated(sa: EspSA, body: bytes) -> bytes:
    """GCM without the tag check: AES-CTR from counter 2 (what a receiver skipping the ICV does)."""
    iv = body[8:16]
    ciphertext = body[16:-16]
    aes = algorithms.AES(sa.key_material[:-4])
    decryptor = Cipher(aes, modes.CTR(sa.key_material[-4:] + iv + b"\x00\x00\x00\x02")).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


class _Unwindowed:
    def check(self, seq: int) -> None:
        pass

    def update(self, seq: int) -> None:
        pass


class MemoryEspLink:
    """The tester's ESP link to the in-process hub: same interface as dmvpn.transport.esp.EspLink."""

    def __init__(self, dut: "InProcessEspDut") -> None:
        self.dut = dut
        self.inbox: collections.deque[bytes] = collections.deque()
        self.recorder = None
        self.rejected = []
        self._activity = 0  # sends and deliveries: see `recv`
        self._quiet_at = -1
        self.outbound = {(TESTER, dut.info.nbma): EspSA(0x5001, "aes-gcm-128", KEY),
                         (TESTER_NAT_T, dut.info.nbma): EspSA(0x5002, "aes-gcm-128", KEY, nat_t=(4500, 4500))}
        self.inbound = {0x6001: EspSA(0x6001, "aes-gcm-128", KEY), 0x6002: EspSA(0x6002, "aes-gcm-128", KEY, nat_t=(4500, 4500))}

    def outbound_sa(self, local: str, remote: str | None = None) -> EspSA:
        return self.outbound[(local, remote or self.dut.info.nbma)]

    def send(self, packet: bytes) -> None:
        src, dst = ".".join(map(str, packet[12:16])), ".".join(map(str, packet[16:20]))
        self.send_raw(self.outbound[(src, dst)].protect(packet))

    def send_raw(self, packet: bytes) -> None:
        self._activity += 1
        if self.recorder is not None:
            self.recorder.write(packet)
        for answer in self.dut.kernel_receive(packet):
            self.inbox.append(answer)

    def recv(self, timeout: float = 0.0) -> bytes | None:
        """As `MemoryLink.recv`: the DUT's kernel and NHS answer inside `send`, and the NHS has no
        timers, so with the inbox empty nothing can come; that is said at once, once per quiet
        spell (asked again with nothing sent or received since, the link waits out the timeout)."""
        end = time.monotonic() + timeout
        while True:
            while not self.inbox:
                if time.monotonic() >= end:
                    return None
                if self._quiet_at != self._activity and self.dut.nhs.next_deadline() is None:
                    self._quiet_at = self._activity
                    return None
                time.sleep(min(0.005, max(0.0, end - time.monotonic())))
            raw = self.inbox.popleft()
            self._activity += 1
            if raw[9] not in (50, IPPROTO_UDP):
                self.rejected.append((raw, "not ESP-protected"))  # as the real link: plain GRE is not its business
                continue
            ihl = (raw[0] & 0x0F) * 4
            offset = ihl + (8 if raw[9] == IPPROTO_UDP else 0)
            sa = self.inbound.get(struct.unpack_from("!I", raw, offset)[0])
            if sa is not None:
                return sa.unprotect(raw).packet

    def close(self) -> None:
        pass


class InProcessEspDut(InProcessDut):
    """The fake hub with SAs toward two tester addresses (plain ESP and NAT-T)."""

    def __init__(self, faults: set[str] | frozenset[str] = frozenset()) -> None:
        esp_faults = set(faults) & ESP_FAULTS
        super().__init__(set(faults) - ESP_FAULTS, name="in-process fake NHS behind ESP")
        self.esp_faults = frozenset(esp_faults)
        self.info = self.info.__class__(**{**self.info.__dict__, "capabilities": self.info.capabilities | {Capability.ESP, Capability.NAT_T, Capability.ANTI_REPLAY},
                                           "tester_nbma": tuple(a for a in self.info.tester_nbma if a != TESTER)})
        self.inbound = {0x5001: EspSA(0x5001, "aes-gcm-128", KEY), 0x5002: EspSA(0x5002, "aes-gcm-128", KEY, nat_t=(4500, 4500))}
        self.outbound = {TESTER: EspSA(0x6001, "aes-gcm-128", KEY), TESTER_NAT_T: EspSA(0x6002, "aes-gcm-128", KEY, nat_t=(4500, 4500))}
        if "no-replay-check" in self.esp_faults:
            for sa in self.inbound.values():
                sa.window = _Unwindowed()
        self._link = MemoryEspLink(self)
        self.counters = {"integrity_failed": 0, "replay": 0, "no_state": 0}

    def esp_tester(self, nat_t: bool = False) -> str:
        return TESTER_NAT_T if nat_t else TESTER

    def esp_link(self) -> MemoryEspLink:
        return self._link

    def set_evidence(self, link, recorder) -> None:
        super().set_evidence(link, recorder)
        self._link.recorder = recorder

    def esp_counters(self) -> dict:
        return dict(self.counters)

    def kernel_receive(self, packet: bytes) -> list[bytes]:
        """What the DUT's kernel does with an arriving packet, then its NHS."""
        now = self.clock()
        ihl = (packet[0] & 0x0F) * 4
        if packet[9] == IPPROTO_UDP:
            body = packet[ihl + 8:]
            if body == b"\xff" and "keepalive-is-esp" not in self.esp_faults:
                return []  # RFC 3948 §2.3: ignored
            if "no-nat-t" in self.esp_faults:
                return []
            if body == b"\xff":
                self.nhs.crashed = True
                return []
        spi = struct.unpack_from("!I", packet, ihl + (8 if packet[9] == IPPROTO_UDP else 0))[0]
        sa = self.inbound.get(spi)
        if sa is None and "accept-any-spi" in self.esp_faults:
            # The SA chosen by address, whatever the SPI says (the SPI still counts in the ICV).
            real = self.inbound[0x5002 if packet[9] == IPPROTO_UDP else 0x5001]
            sa = EspSA(spi, real.algo.name, real.key_material, nat_t=real.nat_t, allow_reserved_spi=True)
            sa.window = real.window
        if sa is None:
            self.counters["no_state"] += 1
            return []
        try:
            inner = sa.unprotect(packet)
        except IntegrityError:
            self.counters["integrity_failed"] += 1
            if "no-icv-check" not in self.esp_faults:
                return []
            offset = ihl + (8 if packet[9] == IPPROTO_UDP else 0)
            plain = _gcm_decrypt_unauthenticated(sa, packet[offset:])
            next_header = plain[-1]
            payload = plain[: -2 - plain[-2]]
            header = bytearray(packet[:ihl])
            header[9] = next_header
            struct.pack_into("!H", header, 2, ihl + len(payload))
            inner_packet = bytes(header) + payload
        except (UnknownSpi, EspError) as exc:
            if "replay" in str(exc) or "window" in str(exc) or "already" in str(exc):
                self.counters["replay"] += 1
            return []
        else:
            inner_packet = inner.packet
            if inner.next_header != 47:
                if "no-selector-check" not in self.esp_faults:
                    return []  # RFC 4301 §5.2: the inner packet does not match the SA's selector
                inner_packet = inner_packet[:9] + b"\x2f" + inner_packet[10:]
        answers = self.nhs.receive(inner_packet, now)
        src = ".".join(map(str, packet[12:16]))
        if "reply-in-clear" in self.esp_faults:
            return answers
        out = self.outbound.get(src)
        return [out.protect(a) for a in answers] if out else answers
