"""pytest-benchmark views of the generator (`pytest tests/perf --benchmark-enable` for numbers).

The default run only checks that each benchmarked call does its work (all exchanges answered).
`dmvpn bench generator` is the reference measurement (pinned CPUs, the blocking loop side by side).
"""

from __future__ import annotations

import pytest

from dmvpn.peers.load import Identities, LoadGenerator, MemoryIO, NullResponder, RawGreIO, start_null_responder

HUB, HUB_PROTO = "192.0.2.1", "10.255.0.1"


@pytest.mark.benchmark(group="generator")
def test_generator_in_memory(benchmark) -> None:
    """The generator's own Python cost: 10 000 spokes, in-process null responder (no sockets)."""
    io = MemoryIO(NullResponder())
    io.keep_sent = False
    gen = LoadGenerator(io, Identities.plan(10_000), hub_nbma=HUB, hub_proto=HUB_PROTO)
    result = benchmark(lambda: gen.run(count=10_000, window=128))
    assert result.ok == 10_000


@pytest.mark.benchmark(group="generator")
def test_generator_over_veth(benchmark, bench_link) -> None:
    """10 000 spokes over a raw socket against the null responder process on the other veth end."""
    responder = start_null_responder(bench_link.rx_ns, max_seconds=120)
    io = RawGreIO(HUB, bench_link.tx_ns)
    try:
        gen = LoadGenerator(io, Identities.plan(10_000), hub_nbma=HUB, hub_proto=HUB_PROTO)
        result = benchmark.pedantic(lambda: gen.run(count=20_000, window=128, timeout=0.5), rounds=3, iterations=1)
        assert result.ok == 20_000 and result.lost == 0
    finally:
        io.close()
        responder.stop()


def test_esp_bench_rows_and_agreement() -> None:
    """`dmvpn bench esp`: the fast path and scapy's SA agree on the bytes and every packet arrives."""
    from dmvpn.bench.esp import bench_esp

    rows = {r["metric"]: r for r in bench_esp(count=500, scapy_count=20)}
    assert set(rows) == {"fast_pps", "scapy_pps", "fast_vs_scapy_ratio"}
    assert rows["fast_vs_scapy_ratio"]["unit"] == "x" and rows["fast_pps"]["value"] > 0
