"""Crash signatures from real nhrpd crash logs (HDR-15's, kept from lab runs): FRR 8.4's backtrace
(execinfo) and FRR 10.3's (libunwind) give the same kind of words, and a log without a crash none."""

from __future__ import annotations

from pathlib import Path

from dmvpn.dut.crash import frr_crash_signature

LOGS = Path(__file__).resolve().parents[1] / "data" / "crash-logs"


def test_frr_84_backtrace() -> None:
    log = (LOGS / "frr-8.4-HDR-15.log").read_text()
    assert frr_crash_signature(log) == "SIGSEGV in libc.so.6+0x152ad5 < nhrp_packet_pull < nhrp_peer_recv"


def test_frr_103_backtrace() -> None:
    log = (LOGS / "frr-10.3-HDR-15.log").read_text()
    assert frr_crash_signature(log) == "SIGSEGV in libc.so.6+0x162b15 < nhrp_packet_pull < nhrp_peer_recv"


def test_no_crash_no_signature() -> None:
    assert frr_crash_signature("NHRP: [PTQ80-8JY6C] Send Registration-Reply(4) 10.255.0.1 -> 10.255.0.11\n") is None
