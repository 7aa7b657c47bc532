"""Fake spokes against the fake NHS over an in-memory link: the protocol behaviour, end to end."""

from __future__ import annotations

import pytest

from dmvpn.peers import FakeNHS, FakeSpoke, MemoryLink, PeerLoop, ReqIds, Tunnel
from dmvpn.wire import constants as C
from dmvpn.wire import templates as T
from dmvpn.wire.fastparse import parse_ipv4_gre

HUB = ("192.0.2.1", "10.255.0.1")
TUNNEL = Tunnel(gre_key=42, holding_time=600)


def _spoke(n: int, **kw) -> FakeSpoke:
    return FakeSpoke(f"192.0.2.{10 + n}", f"10.255.0.{10 + n}", *HUB, tunnel=kw.pop("tunnel", TUNNEL), reqids=ReqIds(100 * n), **kw)


def _setup(*spokes: FakeSpoke, **nhs_kw):
    nhs = FakeNHS(*HUB, tunnel=nhs_kw.pop("tunnel", TUNNEL), **nhs_kw)
    link = MemoryLink(nhs)
    return nhs, link, PeerLoop(link, spokes)


def test_registration_succeeds_and_is_cached() -> None:
    spoke = _spoke(1)
    nhs, link, loop = _setup(spoke)
    loop.kick(spoke, spoke.register(loop.clock()))
    assert loop.run_until(lambda: spoke.registered, 2)
    assert nhs.cache["10.255.0.11"].nbma == "192.0.2.11"
    reply = spoke.registration_reply
    assert reply.op_type == C.PacketType.REGISTRATION_REPLY and reply.reqid == 100
    responder = reply.extension(C.ExtensionType.RESPONDER_ADDRESS)
    assert responder.cies[0].client_nbma == "192.0.2.1"
    assert spoke.refresh_at is not None


def test_retransmission_reuses_the_request_id() -> None:
    spoke = _spoke(1)
    nhs, link, loop = _setup(spoke, faults={"silent"})
    loop.kick(spoke, spoke.register(loop.clock()))
    loop.run_for(3.2)  # first send, then retries at +1 s and +3 s
    sent = [parse_ipv4_gre(p).nhrp.reqid for d, p in link.log if d == "out"]
    assert len(sent) == 3 and set(sent) == {100}
    assert not spoke.registered


def test_refresh_uses_a_new_request_id() -> None:
    spoke = _spoke(1, tunnel=Tunnel(gre_key=42, holding_time=3))
    nhs, link, loop = _setup(spoke)
    loop.kick(spoke, spoke.register(loop.clock()))
    loop.run_for(1.3)  # refresh at holding time / 3
    ids = [parse_ipv4_gre(p).nhrp.reqid for d, p in link.log if d == "out"]
    assert ids[:2] == [100, 101]


def test_unique_conflict_gets_code_14_and_first_binding_stays() -> None:
    first, second = _spoke(1), FakeSpoke("198.51.100.9", "10.255.0.11", *HUB, tunnel=TUNNEL, reqids=ReqIds(900))
    nhs, link, loop = _setup(first, second)
    loop.kick(first, first.register(loop.clock()))
    loop.run_until(lambda: first.registered, 2)
    loop.kick(second, second.register(loop.clock()))
    loop.run_until(lambda: second.registration_reply is not None, 2)
    assert [c.code for c in second.registration_reply.cies] == [C.CieCode.UNIQUE_ADDRESS_ALREADY_REGISTERED]
    assert nhs.cache["10.255.0.11"].nbma == "192.0.2.11"


def test_the_faulty_nhs_accepts_the_conflict() -> None:
    first, second = _spoke(1), FakeSpoke("198.51.100.9", "10.255.0.11", *HUB, tunnel=TUNNEL, reqids=ReqIds(900))
    nhs, link, loop = _setup(first, second, faults={"accept-unique-conflict"})
    for s in (first, second):
        loop.kick(s, s.register(loop.clock()))
        loop.run_until(lambda: s.registration_reply is not None, 2)
    assert second.registered and nhs.cache["10.255.0.11"].nbma == "198.51.100.9"


def test_nat_is_reported_in_the_nat_extension() -> None:
    spoke = FakeSpoke("203.0.113.7", "10.255.0.31", *HUB, tunnel=TUNNEL, claimed_nbma="192.0.2.31")
    nhs, link, loop = _setup(spoke)
    loop.kick(spoke, spoke.register(loop.clock()))
    assert loop.run_until(lambda: spoke.registered, 2)
    assert spoke.nat_nbma == "203.0.113.7"
    assert nhs.cache["10.255.0.31"].nbma == "203.0.113.7"


def test_phase3_redirect_resolution_and_direct_answer() -> None:
    a = _spoke(1, lan="10.111.0.0/24")
    b = _spoke(2, lan="10.112.0.0/24")
    nhs, link, loop = _setup(a, b, routes={"10.111.0.0/24": "10.255.0.11", "10.112.0.0/24": "10.255.0.12"})
    for s in (a, b):
        loop.kick(s, s.register(loop.clock()))
    assert loop.run_until(lambda: a.registered and b.registered, 2)
    # data from A's LAN to B's LAN, hairpinned at the hub
    inner = bytes.fromhex("4500001c00010000400100000a6f000a0a70000a") + bytes(8)
    loop.send([T.encode_ipv4_gre(inner, src=a.nbma, dst=HUB[0], key=42, proto=0x0800)])
    assert loop.run_until(lambda: "10.112.0.10" in a.shortcuts, 3)
    assert a.shortcuts["10.112.0.10"][0] == "192.0.2.12"
    assert a.shortcuts["10.112.0.10"][1] == 24
    assert nhs.stats.redirects == 1 and nhs.stats.forwarded == 1
    assert any(e.what == "resolution-answered" for e in b.events)


def test_unknown_compulsory_extension_gets_error_indication_1() -> None:
    nhs, link, loop = _setup()
    request = T.registration_request(
        outer_src="192.0.2.11", outer_dst=HUB[0], src_proto="10.255.0.11", dst_proto=HUB[1], gre_key=42, reqid=5,
        extensions=[T.Extension(0x0100, b"\0\0\0\0", True), T.end()],
    )
    link.send(request.packet)
    reply = parse_ipv4_gre(link.recv(0.1)).nhrp
    assert reply.op_type == C.PacketType.ERROR_INDICATION and reply.code == C.ErrorCode.UNRECOGNIZED_EXTENSION
    assert reply.payload == parse_ipv4_gre(request.packet).nhrp.raw and not reply.extensions
    assert "10.255.0.11" not in nhs.cache


def test_purge_removes_the_binding_and_replies() -> None:
    spoke = _spoke(1)
    nhs, link, loop = _setup(spoke)
    loop.kick(spoke, spoke.register(loop.clock()))
    loop.run_until(lambda: spoke.registered, 2)
    loop.kick(spoke, spoke.purge(spoke.proto, loop.clock()))
    assert loop.run_until(lambda: any(e.what == "purge-reply" for e in spoke.events), 2)
    assert "10.255.0.11" not in nhs.cache


@pytest.mark.parametrize("fault", ["wrong-reqid", "bad-checksum", "wrong-type"])
def test_spoke_does_not_accept_a_broken_reply(fault) -> None:
    spoke = _spoke(1, max_retries=0)
    nhs, link, loop = _setup(spoke, faults={fault})
    loop.kick(spoke, spoke.register(loop.clock()))
    loop.run_for(1.2)
    assert not spoke.registered
