"""The generator over a real raw GRE socket against the null responder process (root; veth pair).

Counts only: every request answered; the responder's deliberate drops are exactly the losses;
dropping each first copy forces exactly one retransmission per request; `dmvpn bench generator
--json` prints the documented rows. Nothing here asserts a speed.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from dmvpn.peers.load import Identities, LoadGenerator, RawGreIO, blocking_exchanges, start_null_responder
from dmvpn.transport.interlock import UnsafeDestination
from dmvpn.transport.namespace import socket_in_netns

from .conftest import namespaces_unavailable

HUB, HUB_PROTO = "192.0.2.1", "10.255.0.1"


@pytest.fixture
def responder(bench_link, request):
    options = getattr(request, "param", {})
    proc = start_null_responder(bench_link.rx_ns, max_seconds=60, **options)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def gen(bench_link):
    io = RawGreIO(HUB, bench_link.tx_ns)
    try:
        yield LoadGenerator(io, Identities.plan(2000), hub_nbma=HUB, hub_proto=HUB_PROTO)
    finally:
        io.close()


def test_every_request_answered_over_the_wire(responder, gen) -> None:
    result = gen.run(count=5000, window=64, timeout=1.0, retries=2)
    assert result.ok == 5000 and result.lost == 0 and result.unmatched == 0
    assert result.by_kind["registration"] == 2000 and result.by_kind["refresh"] == 3000
    last = responder.stop()
    assert "answered 5000" in last


@pytest.mark.parametrize("responder", [{"drop_every": 10}], indirect=True)
def test_dropped_requests_are_the_losses(responder, gen) -> None:
    result = gen.run(count=2000, window=32, timeout=0.3, retries=0)
    assert result.lost == 200 and result.ok == 1800
    assert "dropped 200" in responder.stop()


@pytest.mark.parametrize("responder", [{"drop_first": True}], indirect=True)
def test_first_copies_dropped_means_one_retransmission_each(responder, gen) -> None:
    result = gen.run(count=1000, window=32, timeout=0.2, retries=1)
    assert result.ok == 1000 and result.lost == 0
    assert result.retransmissions == 1000 and result.answered_after_retransmission == 1000


def test_blocking_loop_against_the_same_responder(responder, bench_link) -> None:
    sock = socket_in_netns(bench_link.tx_ns, socket.AF_INET, socket.SOCK_RAW, 47)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    try:
        answered, lost, seconds = blocking_exchanges(sock, Identities.plan(100), hub_nbma=HUB, hub_proto=HUB_PROTO, count=500)
    finally:
        sock.close()
    assert answered == 500 and lost == 0 and seconds > 0


def test_the_generator_sends_only_where_the_interlock_allows() -> None:
    with pytest.raises(UnsafeDestination):
        RawGreIO("8.8.8.8", None)


def test_bench_generator_json_rows() -> None:
    reason = namespaces_unavailable()
    if reason:
        pytest.skip(reason)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dmvpn.cli", "bench", "generator", "--json", "--count", "20000", "--repeat", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert {r["metric"] for r in rows} == {"exchanges_per_s", "blocking_exchanges_per_s", "vs_blocking_ratio", "p50_ms", "p99_ms", "cpu_util", "exchanges_per_cpu_s"}
    for r in rows:
        assert r["bench"] == "generator" and r["spokes"] == 10000 and r["repetition"] == 0
        assert isinstance(r["value"], (int, float)) and r["unit"]
        assert r["lost"] == 0
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"dmvpn-bench-{proc.pid}-" not in namespaces  # the benchmark removed its namespaces
