"""ESP data plane (RFC 4303, RFC 3948) as DMVPN uses it: GRE in transport-mode ESP.

Checklist §D.10 (ESP-xx) plus NAT-06. The DUT hub holds manual SAs with a tester address; the
suite speaks ESP in user space through `ctx.dut.esp_link()`. Counters of the DUT's SAs (replay,
integrity failures) are recorded as evidence next to the packets.
"""

from __future__ import annotations

from dmvpn.conformance import CaseContext, case
from dmvpn.wire import constants as C
from dmvpn.wire.esp import EspSA

from ._hub import (
    esp_replies,
    REG_REQ,
)

REPLY = C.PacketType.REGISTRATION_REPLY


REQUIRES = ("esp",)


def _request(ctx: CaseContext, nat_t: bool = False, proto: str | None = None) -> tuple[str, int, bytes]:
    """A Registration Request from the tester's ESP address (its own tunnel address per case)."""
    nbma = ctx.dut.esp_tester(nat_t)
    proto = proto or ctx.identity()[1]
    reqid = ctx.dut.reqid_base()
    return nbma, reqid, ctx.packet(REG_REQ, (nbma, proto), reqid)


def _expect_answered(ctx: CaseContext, link, reqid: int, what: str) -> None:
    replies = esp_replies(ctx, link, ctx.window, reqid)
    ok = any(p.nhrp.op_type == REPLY and [c.code for c in p.nhrp.cies] == [0] for p in replies)
    observed = "ESP-protected Registration Reply codes [0]" if ok else ("no ESP-protected reply" if not replies else f"ESP-protected type {replies[0].nhrp.op_type}")
    ctx.expect(what, ok, observed, "ESP-protected Registration Reply codes [0]")


def _expect_dropped(ctx: CaseContext, link, reqid: int, what: str) -> None:
    replies = esp_replies(ctx, link, ctx.quiet, reqid)
    ctx.expect(what, not replies, "answered" if replies else "dropped", "dropped")


def _counters(ctx: CaseContext, label: str) -> dict | None:
    counters = ctx.dut.esp_counters()
    if counters is not None:
        ctx.note(f"DUT SA counters {label}: {counters}")
    return counters


@case(
    "ESP-01",
    clause="RFC 4303 §3.4; RFC 2332 §5.2.4",
    level="MUST",
    role="hub",
    breakers=("reply-in-clear", "silent"),
    requirement="A Registration Request carried in transport-mode ESP (next header 47, GRE) is decrypted, "
    "processed and answered with an ESP-protected Registration Reply.",
    requires=REQUIRES,
)
def test_registration_over_esp(ctx: CaseContext) -> None:
    link = ctx.dut.esp_link()
    nbma, reqid, packet = _request(ctx)
    link.send(packet)
    _expect_answered(ctx, link, reqid, "registration over ESP")


@case(
    "ESP-02",
    clause="RFC 4303 §3.4.4",
    level="MUST",
    role="hub",
    breakers=("no-icv-check",),
    requirement="A packet whose integrity check value does not verify is discarded (and counted).",
    requires=REQUIRES,
    malformed=True,
)
def test_bad_icv_is_dropped(ctx: CaseContext) -> None:
    link = ctx.dut.esp_link()
    nbma, reqid, packet = _request(ctx)
    sa = link.outbound_sa(nbma)
    protected = bytearray(sa.protect(packet))
    protected[-1] ^= 0x01  # the last ICV byte
    before = _counters(ctx, "before")
    link.send_raw(bytes(protected))
    _expect_dropped(ctx, link, reqid, "bad ICV")
    after = _counters(ctx, "after")
    if before is not None and after is not None:
        grew = after.get("integrity_failed", 0) > before.get("integrity_failed", 0)
        ctx.expect("counted", grew, "integrity failure counted" if grew else "not counted", "integrity failure counted")


@case(
    "ESP-03",
    clause="RFC 4303 §3.4.3",
    level="MUST",
    role="hub",
    breakers=("no-replay-check", "reply-in-clear", "silent"),
    requirement="With anti-replay enabled, a replayed sequence number, and one to the left of the window, "
    "are discarded.",
    requires=("esp", "anti-replay"),
    malformed=True,
)
def test_replays_are_dropped(ctx: CaseContext) -> None:
    link = ctx.dut.esp_link()
    nbma, reqid, packet = _request(ctx)
    sa = link.outbound_sa(nbma)
    first = sa.protect(packet)
    link.send_raw(first)
    _expect_answered(ctx, link, reqid, "original")
    link.send_raw(first)  # the same sequence number again
    _expect_dropped(ctx, link, reqid, "replayed sequence number")
    # Move the window 100 ahead, then send a fresh request with a sequence number left of it.
    nbma, reqid2, packet2 = _request(ctx)
    old_seq = sa.seq
    sa.seq += 100
    link.send(packet2)
    _expect_answered(ctx, link, reqid2, "after a jump")
    nbma, reqid3, packet3 = _request(ctx)
    link.send_raw(sa.protect(packet3, seq=old_seq))  # never sent, but 100 behind the top: outside a 64 window
    _expect_dropped(ctx, link, reqid3, "left of the window")


def _foreign_sa(link, nbma: str, spi: int) -> EspSA:
    """An SA with the DUT's algorithm, key and next sequence number but another SPI: only the SPI
    is wrong (it does not consume the real SA's sequence numbers)."""
    sa = link.outbound_sa(nbma)
    return EspSA(spi, sa.algo.name, sa.key_material, seq=sa.seq, nat_t=sa.nat_t, allow_reserved_spi=True)


@case(
    "ESP-04",
    clause="RFC 4303 §3.4.2",
    level="MUST",
    role="hub",
    breakers=("accept-any-spi",),
    requirement="A packet for an SPI with no SA is discarded.",
    requires=REQUIRES,
    malformed=True,
)
def test_unknown_spi_is_dropped(ctx: CaseContext) -> None:
    link = ctx.dut.esp_link()
    nbma, reqid, packet = _request(ctx)
    link.send_raw(_foreign_sa(link, nbma, 0x0BADC0DE).protect(packet))
    _expect_dropped(ctx, link, reqid, "unknown SPI")


@case(
    "ESP-05",
    clause="RFC 4303 §2.1",
    level="MUST",
    role="hub",
    breakers=("accept-any-spi",),
    requirement="SPI values 1-255 are reserved: a packet carrying one is discarded.",
    requires=REQUIRES,
    malformed=True,
)
def test_reserved_spi_is_dropped(ctx: CaseContext) -> None:
    link = ctx.dut.esp_link()
    nbma, reqid, packet = _request(ctx)
    link.send_raw(_foreign_sa(link, nbma, 7).protect(packet))  # SPI 7: reserved by IANA
    _expect_dropped(ctx, link, reqid, "reserved SPI")


@case(
    "ESP-06",
    clause="RFC 4301 §5.2 (inbound selector check)",
    level="MUST",
    role="hub",
    breakers=("no-selector-check",),
    requirement="A packet decrypted with an SA whose selector is GRE but whose next header is not GRE is "
    "discarded.",
    requires=REQUIRES,
    malformed=True,
)
def test_wrong_next_header_is_dropped(ctx: CaseContext) -> None:
    link = ctx.dut.esp_link()
    nbma, reqid, packet = _request(ctx)
    sa = link.outbound_sa(nbma)
    as_udp = bytearray(packet)
    as_udp[9] = 17  # the same payload, declared as UDP inside the ESP trailer's next header
    link.send_raw(sa.protect(bytes(as_udp)))
    _expect_dropped(ctx, link, reqid, "next header 17 under a GRE selector")


@case(
    "ESP-07",
    clause="RFC 3948 §2.1, §3.1",
    level="MUST",
    role="hub",
    breakers=("no-nat-t", "reply-in-clear", "silent"),
    requirement="ESP in UDP 4500 with UDP checksum 0 (NAT-T) is decapsulated and processed.",
    requires=("esp", "nat-t"),
)
def test_nat_t_is_accepted(ctx: CaseContext) -> None:
    link = ctx.dut.esp_link()
    nbma, reqid, packet = _request(ctx, nat_t=True)
    link.send(packet)
    _expect_answered(ctx, link, reqid, "registration over NAT-T")
