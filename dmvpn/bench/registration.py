"""registration: the FRR hub under a registration storm, its cache, and a refresh ramp.

Against the embedded FRR hub (a lab with only the hub, nhrpd debug logging off), for each N in
`spokes`, `repeat` times, the hub's cache cleared first: all N register in a closed loop (`window`
in flight, retransmission after 1 s, 2 s, 4 s with the same request ID) -> register_rate, p50_ms,
p99_ms; the hub's cache is then read until it holds all N bindings (protocol, NBMA and claimed NBMA
each checked) -> cache_entries, all_in_cache_s (first request to the end of the read that found
them all, an upper bound); once the hub's CPU has settled (< 20 % busy, at most 15 s: FRR stays
busy for a while after a storm), a ramp of refreshes (doubling, then bisecting) finds
max_rate_no_loss: the highest offered rate whose step had no loss (no reply within 1 s), no NAK
and p99 <= latency threshold. Identities: see dmvpn.peers.load (NAT'd spokes by default). The
lab's management (cache, clear, idle wait) is dmvpn.lab.mgmt's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from .common import ints, median_by, perf_topology, quantile_rows, sigterm_as_interrupt
from .spec import Benchmark, Metric, Option, Plot, Row, record


def count_in_cache(entries: Iterable[Any], expected: dict[str, tuple[str, str]]) -> int:
    """How many of `expected` {protocol: (nbma, claimed nbma)} the cache entries (CacheEntry) hold exactly."""
    found = 0
    for e in entries:
        want = expected.get(e.protocol)
        if want is not None and e.type == "dynamic" and (e.nbma, e.claimed_nbma) == want:
            found += 1
    return found


def clear_cache(lab: Any, node: str, timeout: float = 60.0) -> None:
    """Clear `node`'s NHRP cache and wait until its dynamic entries are gone."""
    lab.clear_nhrp_cache(node, timeout=timeout)
    lab.wait_nhrp_cache_cleared(node, timeout=timeout)


def find_max_rate(gen: Any, *, start: float = 250.0, limit: float = 64000.0, step_s: float = 1.0, bisect: int = 3,
                  latency_ms: float = 100.0, timeout: float = 1.0, say: Any = None) -> tuple[float, Any, list[dict]]:
    """Ramp the offered rate (doubling from `start`, then `bisect` bisections) until loss, a NAK or
    p99 > latency_ms. Returns (highest passing rate or 0, its LoadResult, every step)."""
    steps: list[dict] = []

    def step(rate: float) -> tuple[bool, Any]:
        r = gen.run(duration=step_s, rate=rate, window=int(rate * timeout) + 64, timeout=timeout, retries=0,
                    max_seconds=step_s + timeout + 10)
        p99 = r.percentile_ms(99)
        ok = r.lost == 0 and r.naks == 0 and r.errors == 0 and r.requests > 0 and p99 <= latency_ms
        steps.append({"rate": round(rate, 1), "achieved": round(r.achieved_rate, 1), "loss": r.lost, "p99_ms": round(p99, 3), "ok": ok})
        if say:
            say(f"  ramp {rate:,.0f}/s: lost {r.lost}/{r.requests}, p99 {p99:.1f} ms -> {'ok' if ok else 'over'}")
        return ok, r

    best, best_result, bad = 0.0, None, None
    rate = start
    while rate <= limit:
        ok, r = step(rate)
        if not ok:
            bad = rate
            break
        best, best_result = rate, r
        rate *= 2
    if bad is not None:
        lo, hi = best, bad
        for _ in range(bisect):
            mid = (lo + hi) / 2 if lo else hi / 2
            ok, r = step(mid)
            if ok:
                lo, best, best_result = mid, mid, r
            else:
                hi = mid
    return best, best_result, steps


def bench_registration(spokes: Sequence[int] = (100, 1000, 10000), repeat: int = 3, *, window: int = 16,
                       timeout: float = 1.0, retries: int = 3, step_s: float = 1.0, bisect: int = 3,
                       start_rate: float = 250.0, latency_ms: float = 100.0, nat: str = "always",
                       settle_s: float = 15.0, lab: Any = None, progress: Any = None) -> Iterator[Row]:
    """Registration storm, cache check and refresh ramp against the FRR hub (see the module docstring)."""
    import json

    from dmvpn.dut.lab import frr_version
    from dmvpn.lab import Lab
    from dmvpn.peers.load import Identities, LoadGenerator, RawGreIO

    say = progress or (lambda msg: None)
    own = lab is None
    with sigterm_as_interrupt():
        if own:
            lab = Lab(perf_topology(0), progress=say)
            lab.up()
        io = None
        try:
            hub_name = lab.topology.hub_names()[0]
            hub = lab.node(hub_name)
            version = frr_version(lab, hub_name)
            io = RawGreIO(hub.nbma, lab.ns, batch=64)
            for n in spokes:
                ids = Identities.plan(n, nat=nat)
                gen = LoadGenerator(io, ids, hub_nbma=hub.nbma, hub_proto=hub.tunnel, gre_key=lab.topology.gre_key,
                                    holding_time=hub.holdtime)
                expected = {}
                for i in range(n):
                    o, c, p = ids.text(i)
                    expected[p] = (o, c)
                for rep in range(repeat):
                    clear_cache(lab, hub_name)
                    gen.registered[:] = bytes(n)
                    say(f"registration N={n} rep {rep}: registering")
                    reg = gen.run(count=n, window=window, timeout=timeout, retries=retries,
                                  max_seconds=60.0 + n / 50.0)
                    t_first = reg.first_send
                    # read the hub's cache until it holds all N (bounded)
                    found, reads, read_s, all_s = 0, 0, math.nan, math.nan
                    deadline = time.monotonic() + 30.0 + n / 500.0
                    while True:
                        t_read = time.monotonic()
                        entries = lab.nhrp_cache(hub_name, timeout=120.0)
                        read_s = time.monotonic() - t_read
                        reads += 1
                        found = count_in_cache(entries, expected)
                        if found >= n:
                            all_s = time.monotonic() - t_first
                            break
                        if time.monotonic() > deadline:
                            break
                        time.sleep(0.2)
                    neigh = lab.exec(hub_name, "ip neigh show dev gre1 | wc -l").stdout.strip()
                    say(f"registration N={n} rep {rep}: {reg.exchanges_per_s:,.0f}/s, {found}/{n} in cache after {all_s:.2f} s")
                    settle = lab.wait_nhrp_idle(hub_name, timeout=settle_s)
                    say(f"registration N={n} rep {rep}: hub settled after {settle:.1f} s; ramp")
                    best, best_r, steps = find_max_rate(gen, start=start_rate, step_s=step_s, bisect=bisect,
                                                        latency_ms=latency_ms, timeout=timeout, say=say)
                    params = {
                        "spokes": n, "repetition": rep, "window": window, "nat": nat, "natted": ids.natted,
                        "nbma_addresses": ids.nbma_addresses, "implementation": f"FRR {version}",
                        "requests": reg.requests, "retransmissions": reg.retransmissions, "lost": reg.lost,
                        "naks": reg.naks, "last_reply_s": round(reg.last_reply - t_first, 3) if reg.last_reply else math.nan,
                        "cache_reads": reads, "cache_read_s": round(read_s, 3), "hub_kernel_neighbors": int(neigh) if neigh.isdigit() else -1,
                        "latency_threshold_ms": latency_ms, "step_s": step_s, "settle_s": round(settle, 1),
                    }
                    ramp_params = {**params, "ramp": json.dumps(steps)}
                    yield record("registration", "register_rate", round(n / reg.exchange_seconds, 1), "1/s", **params)
                    yield record("registration", "p50_ms", round(reg.percentile_ms(50), 3), "ms", **params)
                    yield record("registration", "p99_ms", round(reg.percentile_ms(99), 3), "ms", **params)
                    yield record("registration", "all_in_cache_s", round(all_s, 3), "s", **params)
                    yield record("registration", "cache_entries", found, "entries", **params)
                    yield record("registration", "max_rate_no_loss", round(best, 1), "1/s", **ramp_params)
                    if best_r is not None:
                        yield record("registration", "refresh_p99_ms_at_max", round(best_r.percentile_ms(99), 3), "ms", **params)
                    yield from quantile_rows("registration", reg.latencies, params)
            clear_cache(lab, hub_name)
        finally:
            if io is not None:
                io.close()
            if own:
                lab.down()


def from_args(args: Any, progress: Any = None) -> Iterator[Row]:
    yield from bench_registration(spokes=args.spokes or (100, 1000, 10000), repeat=max(1, args.repeat or 3),
                                  window=args.window or 16, step_s=args.step, bisect=args.bisect,
                                  latency_ms=args.latency_ms, nat=args.nat, progress=progress)


def plot_rate_vs_spokes(frame: Any, plt: Any) -> Any:
    lines = [(m, label) for m, label in (("max_rate_no_loss", "max refresh rate without loss"),
                                         ("register_rate", "registration storm throughput"))
             if not median_by(frame, "registration", m, "spokes").empty]
    if not lines:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for metric, label in lines:
        d = median_by(frame, "registration", metric, "spokes")
        ax.errorbar(d["spokes"], d["median"], yerr=[d["median"] - d["min"], d["max"] - d["median"]],
                    marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("emulated spokes N")
    ax.set_ylabel("requests/s (median, min-max)")
    ax.set_title("FRR hub: registration rate vs N")
    ax.set_ylim(bottom=0)
    ax.legend()
    ax.grid(True, alpha=0.3)
    return fig


def plot_latency_cdf(frame: Any, plt: Any) -> Any:
    """The registration storm's latency CDF, one curve per N (median of the repetitions per quantile)."""
    q = frame[(frame["bench"] == "registration") & (frame["metric"] == "latency_ms_q")]
    if q.empty or "q" not in q or "spokes" not in q:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for n, d in q.groupby("spokes"):
        m = d.groupby("q")["value"].median().sort_index()
        ax.plot(m.values, m.index / 100.0, marker=".", label=f"N = {int(n):,}")
    ax.set_xscale("log")
    ax.set_xlabel("registration latency (ms)")
    ax.set_ylabel("fraction of requests")
    ax.set_title("FRR hub: registration latency CDF")
    ax.legend()
    ax.grid(True, alpha=0.3)
    return fig


BENCHMARK = Benchmark(
    name="registration",
    run=bench_registration,
    summary="FRR hub registration storm, cache check, refresh ramp (lab)",
    metrics={
        "register_rate": Metric("1/s", "higher"),
        "p50_ms": Metric("ms", "lower"),
        "p99_ms": Metric("ms", "lower"),
        "all_in_cache_s": Metric("s", "lower"),
        "cache_entries": Metric("entries", "higher"),
        "max_rate_no_loss": Metric("1/s", "higher"),
        "refresh_p99_ms_at_max": Metric("ms", "lower"),
        "latency_ms_q": Metric("ms", sample=True),
    },
    key_params={"spokes": None},
    main_job={
        "quick": {"spokes": (100, 1000), "step_s": 0.5, "bisect": 2, "repeat": 1},
        "default": {"spokes": (100, 1000, 10000), "step_s": 1.0, "bisect": 3, "repeat": 3},
        "scale": {"spokes": (100, 1000, 10000, 20000), "step_s": 2.0, "bisect": 4, "repeat": 3},
    },
    options=(
        Option("--repeat", "repetitions (3)", int),
        Option("--spokes", "comma-separated N (100,1000,10000)", ints),
        Option("--window", "requests in flight (16)", int),
        Option("--bisect", "bisection steps after the doubling ramp", int, 3),
        Option("--step", "seconds per ramp step", float, 1.0),
        Option("--latency-ms", "p99 threshold of a passing ramp step", float, 100.0),
        Option("--nat", "emulated spokes behind NAT (always: uniform for every N)", None, "always", ("always", "auto", "never")),
    ),
    from_args=from_args,
    plots=(Plot("rate_vs_spokes", plot_rate_vs_spokes), Plot("latency_cdf", plot_latency_cdf)),
)
