"""The closed-loop generator: what it sends, how it matches replies, how it counts loss and retries.

In memory (MemoryIO) against the null responder, lossy and misbehaving responders and the FakeNHS;
with a fake clock where timing decides the outcome. No assertion here is about speed.
"""

from __future__ import annotations

import collections
import ipaddress
import socket

import pytest

from dmvpn.peers.base import Tunnel
from dmvpn.peers.load import (
    DEFAULT_NBMA_POOL,
    Identities,
    LoadGenerator,
    MemoryIO,
    NullResponder,
    null_reply,
)
from dmvpn.peers.nhs import FakeNHS
from dmvpn.wire import constants as C
from dmvpn.wire import templates as T
from dmvpn.wire.checksum import inet_checksum
from dmvpn.wire.fastparse import parse_ipv4_gre

HUB, HUB_PROTO = "192.0.2.1", "10.255.0.1"
DOC_NETS = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def generator(responder, n: int = 50, clock=None, delay: float = 0.0, **kw) -> tuple[LoadGenerator, MemoryIO]:
    io = MemoryIO(responder, clock=clock or FakeClock(), delay=delay)
    ids = Identities.plan(n, **kw)
    return LoadGenerator(io, ids, hub_nbma=HUB, hub_proto=HUB_PROTO, clock=io.clock), io


def parsed(packet: bytes):
    p = parse_ipv4_gre(packet)
    assert p.nhrp is not None
    return p


def reqid(packet: bytes) -> int:
    return parsed(packet).nhrp.reqid


# -- identities --------------------------------------------------------------------------------------


def test_identities_without_nat_have_one_nbma_address_each() -> None:
    ids = Identities.plan(200)
    assert ids.natted == 0 and ids.nbma_addresses == 200
    assert ids.claimed == ids.outer
    assert len(set(ids.proto)) == 200


def test_ten_thousand_identities_share_documentation_addresses_behind_nat() -> None:
    ids = Identities.plan(10_000)
    assert len(ids) == 10_000 and ids.natted == 10_000
    assert ids.nbma_addresses == len(DEFAULT_NBMA_POOL) == 635
    assert len(set(ids.proto)) == 10_000 and len(set(ids.claimed)) == 10_000
    for outer, claimed, proto in (ids.text(i) for i in range(0, 10_000, 97)):
        assert any(ipaddress.ip_address(outer) in net for net in DOC_NETS)
        assert ipaddress.ip_address(claimed) in ipaddress.ip_network("10.64.0.0/10")
        assert ipaddress.ip_address(proto) in ipaddress.ip_network("10.128.0.0/9")
    # every (public NBMA, claimed NBMA) pair is distinct: FRR keys its peers by the former
    assert len(set(zip(ids.outer, ids.claimed))) == 10_000


def test_identity_plan_refuses_what_does_not_fit() -> None:
    with pytest.raises(ValueError):
        Identities.plan(1000, nat="never")
    with pytest.raises(ValueError):
        Identities.plan(0)
    assert Identities.plan(10, nat="always").natted == 10


# -- what goes on the wire ---------------------------------------------------------------------------


def test_requests_are_the_template_packets_with_unique_request_ids() -> None:
    gen, io = generator(NullResponder(), n=40, nat="always")
    result = gen.run(count=120, window=16)
    assert result.requests == 120 and result.sent == 120 and len(io.sent) == 120
    ids = [reqid(p) for p in io.sent]
    assert len(set(ids)) == 120
    for seq, packet in enumerate(io.sent):
        i = seq % 40
        outer, claimed, proto = gen.ids.text(i)
        assert reqid(packet) == gen.reqid(seq)
        expected = T.registration_request(
            outer_src=outer, outer_dst=HUB, src_nbma=claimed, src_proto=proto, dst_proto=HUB_PROTO, gre_key=42,
            reqid=gen.reqid(seq), flags=0x8002, hopcnt=1, holding_time=600, mtu=1400, prefix_len=0xFF,
            nhs_nbma=HUB, nhs_proto=HUB_PROTO,
        ).packet
        assert packet == expected
        assert inet_checksum(packet[:20]) == 0
        assert parsed(packet).nhrp.checksum_ok


def test_resolution_requests_name_another_spoke_with_a_valid_checksum() -> None:
    gen, io = generator(NullResponder(), n=30)
    result = gen.run(count=90, window=8, resolve_fraction=0.5)
    kinds = collections.Counter(parsed(p).nhrp.op_type for p in io.sent)
    assert kinds == {C.PacketType.REGISTRATION_REQUEST: 45, C.PacketType.RESOLUTION_REQUEST: 45}
    protos = {socket.inet_ntoa(p) for p in gen.ids.proto}
    for packet in io.sent:
        view = parsed(packet).nhrp
        assert view.checksum_ok
        if view.op_type == C.PacketType.RESOLUTION_REQUEST:
            assert view.dst_proto in protos and view.dst_proto != view.src_proto
    assert result.ok == 90 and result.by_kind["resolution"] == 45


def test_null_reply_is_the_request_turned_around() -> None:
    request = T.registration_request(outer_src="198.51.100.7", outer_dst=HUB, src_nbma="10.64.0.9",
                                     src_proto="10.128.0.9", dst_proto=HUB_PROTO, gre_key=42, reqid=0xDEADBEEF).packet
    reply = null_reply(request)
    p = parsed(reply)
    assert (p.outer_src, p.outer_dst) == (HUB, "198.51.100.7")
    assert p.nhrp.op_type == C.PacketType.REGISTRATION_REPLY and p.nhrp.reqid == 0xDEADBEEF
    assert p.nhrp.checksum_ok and inet_checksum(reply[:20]) == 0
    assert null_reply(reply) is None  # replies are not answered


# -- matching and accounting --------------------------------------------------------------------------


def test_every_request_answered_by_the_null_responder() -> None:
    responder = NullResponder()
    gen, _ = generator(responder, n=25)
    result = gen.run(count=100, window=32)
    assert (result.ok, result.lost, result.retransmissions, result.unmatched, result.duplicates) == (100, 0, 0, 0, 0)
    assert result.by_kind == {"registration": 25, "refresh": 75, "resolution": 0}
    assert len(result.latencies) == 100 and responder.answered == 100


def test_latency_is_measured_from_the_first_send() -> None:
    gen, _ = generator(NullResponder(), n=10, delay=0.005)
    result = gen.run(count=50, window=4)
    assert result.ok == 50
    assert all(0.005 <= x <= 0.0065 for x in result.latencies)  # the fake clock: 5 ms + loop steps


def test_a_reply_with_another_request_id_matches_nothing() -> None:
    nhs = FakeNHS(HUB, HUB_PROTO, Tunnel(gre_key=42), faults={"wrong-reqid"})
    gen, _ = generator(nhs, n=1)  # one spoke: request ID + 1 would otherwise name its next request
    result = gen.run(count=30, window=8, timeout=0.01)
    assert result.ok == 0 and result.unmatched == 30 and result.lost == 30


def test_a_reply_naming_another_spoke_is_not_a_reply() -> None:
    def swap_source(packet: bytes) -> list[bytes]:
        reply = bytearray(null_reply(packet))
        view = parse_ipv4_gre(bytes(reply)).nhrp
        nhrp = 20 + 8  # IPv4, GRE with key
        off = nhrp + 28 + 4  # fixed header, common header, src_nbma: then src_proto
        assert socket.inet_ntoa(bytes(reply[off : off + 4])) == view.src_proto
        reply[off + 3] ^= 1  # another spoke's address, checksum made right again
        reply[nhrp + 12 : nhrp + 14] = b"\0\0"
        reply[nhrp + 12 : nhrp + 14] = inet_checksum(reply[nhrp:]).to_bytes(2, "big")
        assert parse_ipv4_gre(bytes(reply)).nhrp.checksum_ok
        return [bytes(reply)]

    gen, _ = generator(swap_source, n=5)
    result = gen.run(count=20, window=4, timeout=0.01)
    assert result.ok == 0 and result.unmatched == 20 and result.lost == 20


def test_every_kth_request_dropped_is_counted_lost_without_retries() -> None:
    responder = NullResponder(drop_every=10)
    gen, _ = generator(responder, n=40)
    result = gen.run(count=1000, window=64, timeout=0.01, retries=0)
    assert result.lost == responder.dropped == 100
    assert result.ok == 900 and result.sent == 1000 and result.retransmissions == 0
    assert result.loss_ratio == pytest.approx(0.1)
    # the lost ones are exactly the dropped ones: every 10th
    lost = [seq for seq, st in enumerate(gen.last_status) if st == 3]
    assert lost == list(range(9, 1000, 10))


def test_retransmissions_reuse_the_request_id() -> None:
    responder = NullResponder(drop_first=True)
    gen, io = generator(responder, n=20)
    result = gen.run(count=60, window=16, timeout=0.01, retries=2)
    assert result.ok == 60 and result.lost == 0
    assert result.retransmissions == 60 and result.answered_after_retransmission == 60
    assert result.sent == len(io.sent) == 120
    copies = collections.Counter(io.sent)
    assert set(copies.values()) == {2}  # each request sent twice, byte for byte the same


def test_a_silent_responder_gets_every_attempt_then_loss() -> None:
    gen, io = generator(lambda packet: [], n=7)
    result = gen.run(count=21, window=64, timeout=0.01, retries=3, backoff=2.0)
    assert result.lost == 21 and result.ok == 0
    assert result.retransmissions == 63 and result.sent == 84 == len(io.sent)
    assert set(collections.Counter(reqid(p) for p in io.sent).values()) == {4}


def test_backoff_spaces_the_attempts() -> None:
    clock = FakeClock()
    sends: list[float] = []

    def record(packet: bytes) -> list[bytes]:
        sends.append(clock())
        return []

    io = MemoryIO(record, clock=clock)
    gen = LoadGenerator(io, Identities.plan(1), hub_nbma=HUB, hub_proto=HUB_PROTO, clock=clock)
    gen.run(count=1, timeout=0.1, retries=3, backoff=2.0)
    gaps = [round(b - a, 2) for a, b in zip(sends, sends[1:])]
    assert gaps == [0.1, 0.2, 0.4]


def test_duplicates_and_late_replies_are_counted_apart() -> None:
    gen, _ = generator(NullResponder(duplicate=True), n=10)
    result = gen.run(count=40, window=8)
    assert result.ok == 40 and result.duplicates == 40

    # replies 30 ms late with a 10 ms timeout: every request is lost, the replies come late
    gen, _ = generator(NullResponder(), n=10, delay=0.03)
    result = gen.run(duration=0.2, rate=200, window=64, timeout=0.01)
    assert result.ok == 0 and result.lost == result.requests > 0
    assert result.late > 0 and result.late + result.stale <= result.requests


def test_a_reply_with_a_bad_checksum_is_not_a_reply() -> None:
    nhs = FakeNHS(HUB, HUB_PROTO, Tunnel(gre_key=42), faults={"bad-checksum"})
    gen, _ = generator(nhs, n=10)
    result = gen.run(count=20, window=4, timeout=0.01)
    assert result.ok == 0 and result.bad_checksum == 20 and result.lost == 20


def test_naks_and_error_indications_are_not_successes() -> None:
    # resolving spokes nobody registered: the NHS answers "no binding" (code 12)
    nhs = FakeNHS(HUB, HUB_PROTO, Tunnel(gre_key=42))
    gen, _ = generator(nhs, n=10)
    result = gen.run(count=20, window=4, resolve_fraction=1.0)
    assert result.naks == 20 and result.ok == 0 and not result.latencies

    def error_indication(packet: bytes) -> list[bytes]:
        p = parse_ipv4_gre(packet)
        return [T.error_indication(C.ErrorCode.UNRECOGNIZED_EXTENSION, 0, payload=p.nhrp.raw, outer_src=HUB,
                                   outer_dst=p.outer_src, src_proto=HUB_PROTO, dst_proto=p.nhrp.src_proto, gre_key=42).packet]

    gen, _ = generator(error_indication, n=10)
    result = gen.run(count=15, window=4)
    assert result.errors == 15 and result.ok == 0 and result.lost == 0


def test_registrations_land_in_the_fake_nhs_cache_behind_nat() -> None:
    nhs = FakeNHS(HUB, HUB_PROTO, Tunnel(gre_key=42))
    gen, _ = generator(nhs, n=700)  # more than the pool: NAT'd
    result = gen.run(count=700, window=64)
    assert result.ok == 700 and len(nhs.cache) == 700
    for i in range(0, 700, 37):
        outer, claimed, proto = gen.ids.text(i)
        binding = nhs.cache[proto]
        assert (binding.nbma, binding.claimed_nbma) == (outer, claimed)
    # then the registered spokes resolve each other: positive answers
    result = gen.run(count=100, window=16, resolve_fraction=1.0)
    assert result.ok == 100 and result.naks == 0


def test_a_run_is_bounded_in_time_and_count() -> None:
    gen, _ = generator(NullResponder(), n=5)
    result = gen.run(duration=0.05, rate=1000, window=8)
    assert 40 <= result.requests <= 52 and result.ok == result.requests
    with pytest.raises(ValueError):
        gen.run()
    silent, _ = generator(lambda packet: [], n=5)
    result = silent.run(count=10, timeout=10.0, retries=5, max_seconds=1.0)
    assert result.timed_out
