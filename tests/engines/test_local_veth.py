"""Bounded runs of every profile over a veth pair in namespaces made here; what left = what arrived.

Ground truth is the receiving veth's counter (`ip -s -j link`); IPv6 is off and no address is set,
so nothing else uses the link. Needs root (skipped otherwise).
"""

from __future__ import annotations

import socket
import time

import pytest

from dmvpn.engines import stl_shim as S
from dmvpn.engines.local import LocalEngine
from dmvpn.transport.interlock import UnsafeDestination
from dmvpn.transport.namespace import socket_in_netns

from .conftest import CASE_IDS, PROFILE_CASES, PROFILES

#: continuous profiles get a short duration; the rest run to completion
DURATION = 0.4


def rx_packets(link) -> int:
    return int(link.rx_stats()["packets"])


def settled_delta(link, before: int, expected: int) -> int:
    end = time.monotonic() + 2.0
    while True:
        n = rx_packets(link) - before
        if n >= expected or time.monotonic() > end:
            return n
        time.sleep(0.02)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize(("cid", "profile", "tunables"), PROFILE_CASES, ids=CASE_IDS)
def test_profile_run_sent_equals_received(veth, cid, profile, tunables, workers) -> None:
    engine = LocalEngine(veth.tx_if, netns=veth.tx_ns, workers=workers, max_seconds=5)
    plans = engine.compile(PROFILES / profile, tunables)
    expected = engine.expected_packets(plans)
    before = rx_packets(veth)
    result = engine.run(PROFILES / profile, tunables, duration=DURATION if expected is None else None)
    got = settled_delta(veth, before, result.sent)
    assert got == result.sent
    assert sum(result.per_stream) == result.sent
    if expected is not None:
        assert result.sent == expected and result.complete
    else:
        assert result.sent > 0 and not result.complete
        assert result.elapsed <= DURATION + 0.5


def test_frames_on_the_wire_are_the_engine_frames_with_the_port_mac(veth) -> None:
    engine = LocalEngine(veth.tx_if, netns=veth.tx_ns, max_seconds=5)
    tunables = {"spokes": 40, "rate": 2000}
    frames = engine.frames(PROFILES / "registration_storm.py", tunables)
    assert all(f[6:12] == bytes.fromhex(veth.tx_mac.replace(":", "")) for f in frames)
    rx = socket_in_netns(veth.rx_ns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    try:
        rx.bind((veth.rx_if, 0))
        rx.settimeout(0.5)
        result = engine.run(PROFILES / "registration_storm.py", tunables)
        seen = []
        deadline = time.monotonic() + 5
        while len(seen) < result.sent and time.monotonic() < deadline:
            try:
                seen.append(rx.recv(2048))
            except socket.timeout:
                break
    finally:
        rx.close()
    assert seen == frames


def test_rate_is_honoured(veth) -> None:
    engine = LocalEngine(veth.tx_if, netns=veth.tx_ns, max_seconds=5)
    result = engine.run(PROFILES / "registration_storm.py", {"spokes": 100, "rate": 500})
    # 100 packets at 500 pps: the last is due 99/500 s after the start; never earlier
    assert result.sent == 100 and result.elapsed >= 0.99 * 99 / 500


def test_two_workers_split_one_burst_and_keep_the_rate(veth) -> None:
    engine = LocalEngine(veth.tx_if, netns=veth.tx_ns, workers=2, max_seconds=5)
    result = engine.run(PROFILES / "registration_storm.py", {"spokes": 100, "rate": 500})
    assert [w["sent"] for w in result.workers] == [50, 50]
    assert result.elapsed >= 0.99 * 98 / 500


def test_continuous_streams_stop_at_max_seconds(veth) -> None:
    engine = LocalEngine(veth.tx_if, netns=veth.tx_ns, max_seconds=0.3, grace=2)
    before = rx_packets(veth)
    t = time.monotonic()
    result = engine.run(PROFILES / "spoke_data.py", {"size": "64", "path": "hub", "rate": 5000})
    assert time.monotonic() - t < 5
    assert not result.complete and result.workers[0]["stopped"] == "time"
    assert settled_delta(veth, before, result.sent) == result.sent
    assert result.sent <= 5000 * 0.3 + 256


def test_max_packets_caps_the_total(veth) -> None:
    engine = LocalEngine(veth.tx_if, netns=veth.tx_ns, max_packets=30, max_seconds=5)
    before = rx_packets(veth)
    result = engine.run(PROFILES / "registration_storm.py", {"spokes": 100, "rate": 0})
    assert result.sent == 30 and not result.complete
    assert settled_delta(veth, before, 30) == 30


def test_interlock_refuses_before_sending(veth) -> None:
    frame = bytes.fromhex("020000000002020000000001" "0800") + bytes.fromhex("45000014000100004000" "0000" "c0000280" "08080808")
    stream = S.STLStream(packet=S.STLPktBuilder(pkt_buffer=frame), mode=S.STLTXSingleBurst(total_pkts=5))
    before = rx_packets(veth)
    with pytest.raises(UnsafeDestination, match="8.8.8.8"):
        LocalEngine(veth.tx_if, netns=veth.tx_ns).run([stream])
    assert rx_packets(veth) == before


def test_frames_larger_than_the_mtu_are_refused(veth) -> None:
    frame = bytes.fromhex("020000000002020000000001" "0800") + bytes.fromhex("45000014000100004000" "0000" "c0000280" "c0000201") + bytes(1500)
    stream = S.STLStream(packet=S.STLPktBuilder(pkt_buffer=frame), mode=S.STLTXSingleBurst(total_pkts=1))
    with pytest.raises(ValueError, match="MTU"):
        LocalEngine(veth.tx_if, netns=veth.tx_ns).run([stream])


def test_host_namespace_needs_an_explicit_yes() -> None:
    with pytest.raises(PermissionError, match="host namespace"):
        LocalEngine("lo").run(PROFILES / "hairpin.py", {"count": 1})


def test_chains_multi_bursts_isg_and_loops(veth) -> None:
    frame = bytes.fromhex("020000000002020000000001" "0800") + bytes.fromhex("450000140001000040ff0000c0000280c0000201")
    pkt = S.STLPktBuilder(pkt_buffer=frame)
    streams = [
        S.STLStream(name="a", packet=pkt, mode=S.STLTXSingleBurst(total_pkts=5, pps=1000), next="b"),
        S.STLStream(name="b", packet=pkt, mode=S.STLTXMultiBurst(pkts_per_burst=5, ibg=20000, count=3, pps=1000), self_start=False, isg=10000),
        S.STLStream(name="loop", packet=pkt, mode=S.STLTXSingleBurst(total_pkts=2, pps=1000), next="loop", action_count=3),
    ]
    engine = LocalEngine(veth.tx_if, netns=veth.tx_ns, workers=2, max_seconds=5)
    before = rx_packets(veth)
    result = engine.run(streams)
    assert result.per_stream == [5, 15, 8]  # the loop's jump is taken 3 times: 4 runs of 2
    assert settled_delta(veth, before, 28) == 28 == result.sent
    # a: 5 ms; b starts 10 ms later; bursts every 5 + 20 ms; last packet 4 ms into the third
    assert result.elapsed >= 0.99 * (0.005 + 0.010 + 2 * 0.025 + 0.004)
