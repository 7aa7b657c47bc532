"""What several benchmarks share: signals, quantiles, bench namespaces, CPU pinning, the perf lab."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dmvpn.engines.veth import VethPair

from .spec import Row, record

PROFILES = Path(__file__).resolve().parents[2] / "profiles"


def ints(text: str) -> list[int]:
    """A comma-separated list of integers (an option type)."""
    import argparse

    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None


def perf_topology(spokes: int = 0) -> Any:
    """The lab for performance runs: the default hub (+ spokes) with nhrpd's debug logging off."""
    from dmvpn.lab import Topology

    return Topology(hubs=1, spokes=spokes, nhrp_debug=())


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the body runs (main thread only), SIGTERM/SIGHUP raise KeyboardInterrupt, so that every
    `finally` (namespaces, responder process, lab) runs when the benchmark is stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    for sig in previous:
        if previous[sig] in (signal.SIG_DFL, signal.SIG_IGN, None):
            signal.signal(sig, raise_interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is raise_interrupt:
                signal.signal(sig, handler)


def python_speed_us() -> float:
    """`sum(range(1000))` over a list, in µs (machine-limits.md quotes 9.8 µs for its machine)."""
    import timeit

    x = list(range(1000))
    return round(min(timeit.repeat(lambda: sum(x), number=2000, repeat=5)) / 2000 * 1e6, 3)


def quantile_rows(bench: str, latencies: Any, params: dict[str, Any]) -> Iterator[Row]:
    """The latency distribution as quantile rows (metric latency_ms_q, parameter q in %)."""
    if not len(latencies):
        return
    data = sorted(latencies)
    for q in LATENCY_QUANTILES:
        k = min(len(data) - 1, max(0, math.ceil(q / 100.0 * len(data)) - 1))
        yield record(bench, "latency_ms_q", round(data[k] * 1000.0, 3), "ms", **params, q=q)


LATENCY_QUANTILES = (0, 1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.9, 100)


def pct(values: list[float], q: float) -> float:
    data = sorted(v for v in values if v == v)
    if not data:
        return math.nan
    k = min(len(data) - 1, max(0, math.ceil(q / 100.0 * len(data)) - 1))
    return data[k]


def rx_packets(link: VethPair) -> int:
    return int(link.rx_stats()["packets"])


def settle(link: VethPair, before: int, expected: int, timeout: float = 2.0) -> int:
    """Receive count delta once it stops moving (the kernel may still be draining a backlog)."""
    end = time.monotonic() + timeout
    last = -1
    while True:
        n = rx_packets(link) - before
        if n >= expected or n == last or time.monotonic() > end:
            return n
        last = n
        time.sleep(0.05)


def bench_namespaces(link: VethPair) -> None:
    """Address the veth pair like the lab: tester side 192.0.2.100 with the spoke ranges as local
    routes; responder side 192.0.2.1 (the "hub") routing them back; static neighbours (no ARP)."""

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)

    ip("-n", link.tx_ns, "addr", "add", "192.0.2.100/24", "dev", link.tx_if)
    ip("-n", link.rx_ns, "addr", "add", "192.0.2.1/24", "dev", link.rx_if)
    for prefix in ("192.0.2.128/25", "198.51.100.0/24", "203.0.113.0/24"):
        ip("-n", link.tx_ns, "route", "add", "local", prefix, "dev", link.tx_if)
        ip("-n", link.rx_ns, "route", "add", prefix, "via", "192.0.2.100", "dev", link.rx_if)
    ip("-n", link.tx_ns, "neigh", "replace", "192.0.2.1", "lladdr", link.rx_mac, "dev", link.tx_if, "nud", "permanent")
    ip("-n", link.rx_ns, "neigh", "replace", "192.0.2.100", "lladdr", link.tx_mac, "dev", link.rx_if, "nud", "permanent")


@contextlib.contextmanager
def pinned(cpu: int | None) -> Iterator[None]:
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def median_by(frame: Any, bench: str, metric: str, key: str) -> Any:
    """Median, min and max of `value` per `key` for one bench's metric (for plots)."""
    import pandas as pd

    data = frame[(frame["bench"] == bench) & (frame["metric"] == metric)]
    if data.empty or key not in data:
        return pd.DataFrame()
    return data.groupby(key)["value"].agg(["median", "min", "max"]).reset_index().sort_values(key)
