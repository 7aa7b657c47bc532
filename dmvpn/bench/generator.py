"""generator: the closed-loop generator of dmvpn.peers.load against the null responder.

10 000 emulated spokes register in a closed loop (`window` in flight) against the null responder,
which runs in another process pinned to another CPU, on the far end of a veth pair between two
namespaces made here (dmvpn-bench-*); the generator is pinned to one CPU. Side by side in each
repetition: the blocking one-at-a-time loop (NhrpTemplate.build, sendto, recv) against the same
responder. Metrics: exchanges_per_s, blocking_exchanges_per_s, vs_blocking_ratio, p50_ms, p99_ms,
cpu_util (generator CPU seconds per wall second) and exchanges_per_cpu_s (exchanges per generator
CPU second: its one-core ceiling even when the responder's core is busy). Needs root.
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Iterator
from typing import Any

from dmvpn.engines.veth import veth_pair

from .common import bench_namespaces, ints, pinned, python_speed_us, sigterm_as_interrupt
from .spec import Benchmark, Metric, Option, Plot, Row, record


def bench_generator(spokes: int = 10_000, count: int = 200_000, window: int = 128, repeat: int = 3,
                    blocking_count: int = 20_000, progress: Any = None) -> Iterator[Row]:
    """Closed-loop generator vs the blocking loop, both against the null responder (another process)."""
    from dmvpn.peers.load import Identities, LoadGenerator, RawGreIO, blocking_exchanges, start_null_responder
    from dmvpn.transport.namespace import socket_in_netns

    if os.geteuid() != 0:
        raise PermissionError("bench generator needs root (network namespaces, raw sockets)")
    say = progress or (lambda msg: None)
    cpus = sorted(os.sched_getaffinity(0))
    gen_cpu, resp_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    ids = Identities.plan(spokes)
    speed = python_speed_us()
    with sigterm_as_interrupt(), veth_pair("dmvpn-bench-") as link:
        bench_namespaces(link)
        responder = start_null_responder(link.rx_ns, cpu=resp_cpu, max_seconds=max(60.0, repeat * (count / 5000 + 30)))
        io = None
        blocking_sock = None
        try:
            io = RawGreIO("192.0.2.1", link.tx_ns, batch=64)
            gen = LoadGenerator(io, ids, hub_nbma="192.0.2.1", hub_proto="10.255.0.1")
            with pinned(gen_cpu):
                gen.run(count=min(count, 5000), window=window, timeout=0.5)  # warm-up: caches, routes
                for rep in range(repeat):
                    r = gen.run(count=count, window=window, timeout=0.5, max_seconds=max(30.0, count / 2000))
                    # a fresh socket: a raw socket also queues a copy of every reply the generator got
                    blocking_sock = socket_in_netns(link.tx_ns, socket.AF_INET, socket.SOCK_RAW, 47)
                    blocking_sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
                    answered, b_lost, b_seconds = blocking_exchanges(
                        blocking_sock, ids, hub_nbma="192.0.2.1", hub_proto="10.255.0.1", count=blocking_count,
                        timeout=0.2, max_seconds=max(10.0, blocking_count / 1000))
                    blocking_sock.close()
                    blocking_sock = None
                    b_rate = answered / b_seconds if b_seconds > 0 else 0.0
                    rate = r.exchanges_per_s
                    params = {"spokes": spokes, "count": count, "window": window, "repetition": rep,
                              "generator_cpu": gen_cpu, "responder_cpu": resp_cpu, "lost": r.lost,
                              "retransmissions": r.retransmissions, "unmatched": r.unmatched, "stale": r.stale,
                              "blocking_count": blocking_count, "blocking_lost": b_lost,
                              "nbma_addresses": ids.nbma_addresses, "python_sum_us": speed}
                    say(f"generator rep {rep}: {rate:,.0f} exchanges/s, blocking {b_rate:,.0f}/s")
                    yield record("generator", "exchanges_per_s", round(rate, 1), "1/s", **params)
                    yield record("generator", "blocking_exchanges_per_s", round(b_rate, 1), "1/s", **params)
                    yield record("generator", "vs_blocking_ratio", round(rate / b_rate, 3) if b_rate else math.nan, "x", **params)
                    yield record("generator", "p50_ms", round(r.percentile_ms(50), 3), "ms", **params)
                    yield record("generator", "p99_ms", round(r.percentile_ms(99), 3), "ms", **params)
                    yield record("generator", "cpu_util", round(r.cpu_s / r.exchange_seconds, 3), "cores", **params)
                    # the generator's own one-core capacity, whatever the responder's core was doing
                    yield record("generator", "exchanges_per_cpu_s", round(r.completed / r.cpu_s, 1) if r.cpu_s else math.nan,
                                  "1/cpu-s", **params)
        finally:
            if blocking_sock is not None:
                blocking_sock.close()
            if io is not None:
                io.close()
            last = responder.stop()
            say(f"null responder: {last}")


def from_args(args: Any, progress: Any = None) -> Iterator[Row]:
    yield from bench_generator(spokes=(args.spokes or [10000])[0], count=args.count or 200_000,
                               window=args.window or 128, repeat=max(1, args.repeat or 3), progress=progress)


def plot_generator(frame: Any, plt: Any) -> Any:
    """Closed loop vs blocking loop, exchanges/s (median, min-max)."""
    g = frame[(frame["bench"] == "generator") & (frame["metric"].isin(["exchanges_per_s", "blocking_exchanges_per_s"]))]
    if g.empty:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    d = g.groupby("metric")["value"].agg(["median", "min", "max"])
    labels = [m for m in ("exchanges_per_s", "blocking_exchanges_per_s") if m in d.index]
    med = [d.loc[m, "median"] for m in labels]
    err = [[d.loc[m, "median"] - d.loc[m, "min"] for m in labels], [d.loc[m, "max"] - d.loc[m, "median"] for m in labels]]
    ax.bar(["closed loop", "blocking loop"][: len(labels)], med, yerr=err, capsize=4, color=["#4c72b0", "#c44e52"][: len(labels)])
    ax.axhline(25000, color="gray", linestyle="--", linewidth=1, label="target 25 000/s")
    ax.set_ylabel("registration exchanges/s")
    ax.set_title("generator vs null responder (one core)")
    ax.legend()
    return fig


BENCHMARK = Benchmark(
    name="generator",
    run=bench_generator,
    summary="closed-loop fake spokes vs the null responder and the blocking loop (root)",
    metrics={
        "exchanges_per_s": Metric("1/s", "higher"),
        "blocking_exchanges_per_s": Metric("1/s", "higher"),
        "vs_blocking_ratio": Metric("x", "higher"),
        "p50_ms": Metric("ms", "lower"),
        "p99_ms": Metric("ms", "lower"),
        "cpu_util": Metric("cores"),
        "exchanges_per_cpu_s": Metric("1/cpu-s", "higher"),
    },
    key_params={"spokes": None},
    main_job={
        "quick": {"count": 50_000, "repeat": 1},
        "default": {"count": 200_000, "repeat": 3},
        "scale": {"count": 500_000, "repeat": 3},
    },
    options=(
        Option("--count", "exchanges per repetition (200 000)", int),
        Option("--repeat", "repetitions (3)", int),
        Option("--spokes", "emulated spokes (10000)", ints),
        Option("--window", "requests in flight (128)", int),
    ),
    from_args=from_args,
    plots=(Plot("generator", plot_generator),),
)
