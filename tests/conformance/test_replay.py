"""`dmvpn replay` against in-process DUTs: a crash is found and counted per fresh DUT, a DUT that
survives is reported as answering or silent, and bad input is refused in one line."""

from __future__ import annotations

import json

from dmvpn.cli import main
from dmvpn.conformance.replay import read_packets, write_packets
from dmvpn.wire import templates as T


def _capture(tmp_path, malformed: bool):
    packet = bytearray(T.registration_request(outer_src="192.0.2.130", outer_dst="192.0.2.1", src_proto="10.255.0.130",
                                              dst_proto="10.255.0.1", gre_key=42, reqid=7).packet)
    if malformed:
        packet[28 + 17] = 9  # an undefined NHRP type
    path = tmp_path / "capture.pcap"
    write_packets(path, [(1.0, bytes(packet))])
    return path


def test_a_planted_crash_is_found_on_every_fresh_dut(tmp_path, capsys) -> None:
    pcap = _capture(tmp_path, malformed=True)
    assert read_packets(pcap)[0][1][28 + 17] == 9
    code = main(["replay", str(pcap), "--dut", "inprocess", "--dut-faults", "crash-on-malformed", "--times", "3", "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert [line["kind"] for line in lines[:3]] == ["crashes"] * 3
    assert lines[-1]["crashed"] == 3 and "(deterministic)" in lines[-1]["summary"]
    assert lines[-1]["signatures"] == ["SIGSEGV in receive"]


def test_a_dut_that_survives_answers(tmp_path, capsys) -> None:
    code = main(["replay", str(_capture(tmp_path, malformed=False)), "--dut", "inprocess", "--times", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "try 1/2: answers (1 packets back for 1 sent)" in out
    assert "crashed 0/2 fresh DUTs" in out


def test_a_malformed_packet_without_the_fault_is_silently_discarded(tmp_path, capsys) -> None:
    code = main(["replay", str(_capture(tmp_path, malformed=True)), "--dut", "inprocess", "--times", "1"])
    assert code == 0
    assert "try 1/1: silent" in capsys.readouterr().out


def test_bad_input_is_refused_in_one_line(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a pcap at all, not at all")
    assert main(["replay", str(bad), "--dut", "inprocess"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dmvpn replay:") and len(err.splitlines()) == 1
    assert main(["replay", str(tmp_path / "missing.pcap"), "--dut", "inprocess"]) == 2
