"""The in-memory links' fast path: no timeout is sat out when nothing can arrive, and only then.

A link to an in-process responder knows what can still come: the responder answers inside `send`
and later only from its timers. With nothing queued and no timer pending, `recv` says so at once
(once per quiet spell: a caller polling until a deadline is not made to spin); with a timer
pending, the timeout is waited out in real time, even when the timer falls after it. A case's
wait (`let_time_pass`) moves the in-process hub's clock on at once: its bindings age all the same.
"""

from __future__ import annotations

import time

from dmvpn.dut import InProcessDut
from dmvpn.dut.inprocess import InProcessSpokeDut
from dmvpn.dut.inprocess_esp import InProcessEspDut
from dmvpn.peers import FakeNHS, MemoryLink, Tunnel
from dmvpn.wire import constants as C
from dmvpn.wire import templates as T
from dmvpn.wire.fastparse import parse_ipv4_gre

HUB = ("192.0.2.1", "10.255.0.1")


def _timed(fn, *args):
    start = time.monotonic()
    out = fn(*args)
    return out, time.monotonic() - start


def _registration(reqid: int = 7, holding_time: int = 600) -> bytes:
    return T.registration_request(
        outer_src="192.0.2.129", outer_dst=HUB[0], src_proto="10.255.0.11", dst_proto=HUB[1], gre_key=42, reqid=reqid,
        hopcnt=1, mtu=1400, holding_time=holding_time, nhs_nbma=HUB[0], nhs_proto=HUB[1]).packet


def test_a_quiet_link_to_a_hub_says_so_at_once_then_waits_when_asked_again() -> None:
    link = MemoryLink(FakeNHS(*HUB, tunnel=Tunnel(42, 600)))
    link.send(_registration())
    reply, _ = _timed(link.recv, 5.0)
    assert parse_ipv4_gre(reply).nhrp.op_type == C.PacketType.REGISTRATION_REPLY
    nothing, took = _timed(link.recv, 5.0)
    assert nothing is None and took < 1.0, f"a hub with nothing queued and no timers: {took:.2f} s for nothing"
    # Asked again with nothing sent or received since: the timeout is waited out (no spinning).
    nothing, took = _timed(link.recv, 0.2)
    assert nothing is None and took >= 0.2
    link.send(_registration(8))  # something happened: the next quiet spell is said at once again
    assert link.recv(5.0) is not None
    nothing, took = _timed(link.recv, 5.0)
    assert nothing is None and took < 1.0


def test_a_pending_timer_is_waited_for_in_real_time() -> None:
    dut = InProcessSpokeDut()  # retransmits an unanswered registration after 0.2 s
    link = dut.open_link()
    dut.trigger_registration()
    first, sent_at = link.recv(0), time.monotonic()
    assert parse_ipv4_gre(first).nhrp.op_type == C.PacketType.REGISTRATION_REQUEST
    # The retransmission is due after this timeout: the timeout passes in full all the same (the
    # case's next step must not come closer to the DUT's timers than on a real link).
    nothing, took = _timed(link.recv, 0.05)
    assert nothing is None and took >= 0.05
    again = link.recv(2.0)
    assert again == first and time.monotonic() - sent_at >= 0.2


def test_the_esp_link_says_at_once_that_nothing_can_come() -> None:
    link = InProcessEspDut().esp_link()
    nothing, took = _timed(link.recv, 5.0)
    assert nothing is None and took < 1.0
    nothing, took = _timed(link.recv, 0.2)
    assert nothing is None and took >= 0.2


def test_time_passes_for_the_in_process_hub_at_once_and_its_bindings_age() -> None:
    dut = InProcessDut()
    link = dut.open_link()
    link.send(_registration(holding_time=2))
    assert parse_ipv4_gre(link.recv(1.0)).nhrp.op_type == C.PacketType.REGISTRATION_REPLY
    assert [e["proto"] for e in dut.cache()] == ["10.255.0.11"]
    link.let_time_pass(1.0)
    assert [e["proto"] for e in dut.cache()] == ["10.255.0.11"]  # within its holding time still
    _, took = _timed(link.let_time_pass, 1.5)
    assert took < 1.0 and dut.cache() == []  # 2.5 s after the registration: gone
    link.send(_registration(8, holding_time=2))  # the NHS sees the new time too: a fresh binding lives
    assert link.recv(1.0) is not None and [e["proto"] for e in dut.cache()] == ["10.255.0.11"]


def test_time_passes_in_real_time_for_a_responder_with_a_timer() -> None:
    dut = InProcessSpokeDut()
    link = dut.open_link()
    dut.trigger_registration()
    first = link.recv(0)
    _, took = _timed(link.let_time_pass, 0.25)
    assert took >= 0.25
    assert link.recv(0) == first  # its retransmission came due meanwhile
