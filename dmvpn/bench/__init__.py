"""The benchmarks: one module each, listed in `MODULES`; everything else reads this registry.

A benchmark module (`dmvpn/bench/NAME.py`) declares `BENCHMARK = Benchmark(...)` (dmvpn.bench.spec):
its runner (keyword arguments -> rows `{"bench", "metric", "value", "unit", parameters...}`), its
metrics (unit, better direction, per-sample rows), its key parameters, the sizes the main job
(`dmvpn run`) uses by default and with `--scale`, its command-line options and its plots. The
`dmvpn bench NAME` command, the main job's performance part (dmvpn.performance), `dmvpn report
compare` and the report's performance section and plots (dmvpn.results) all read it from here.

To add a benchmark: write `dmvpn/bench/NAME.py` with a `BENCHMARK` (copy `build.py`, the smallest;
helpers several benchmarks share are in `common.py`) and add "NAME" to `MODULES`. Nothing else.

Benchmarks measure; they never write results (dmvpn.results does) and nothing here asserts a speed.
"""

from __future__ import annotations

import importlib
from functools import cache

from .spec import Benchmark, Metric, Option, Plot, record

#: the benchmark modules, in the order of `dmvpn bench --help`, the main job and the report's plots
MODULES = ("build", "engine", "esp", "generator", "registration", "shortcut")

__all__ = ["MODULES", "Benchmark", "Metric", "Option", "Plot", "benchmarks", "get", "key_defaults", "key_params",
           "metric", "record"]


@cache
def benchmarks() -> dict[str, Benchmark]:
    """{name: Benchmark} in `MODULES` order (each module imported once, on first use)."""
    out = {}
    for name in MODULES:
        bench = importlib.import_module(f"{__name__}.{name}").BENCHMARK
        if bench.name != name:
            raise ValueError(f"dmvpn/bench/{name}.py declares a benchmark named {bench.name!r}")
        out[name] = bench
    return out


def get(name: str) -> Benchmark:
    try:
        return benchmarks()[name]
    except KeyError:
        raise KeyError(f"no benchmark {name!r} (have: {', '.join(MODULES)})") from None


def metric(bench: str, name: str) -> Metric | None:
    """The declaration of `bench`'s metric `name` (None: an unknown bench or metric)."""
    found = benchmarks().get(bench)
    return found.metrics.get(name) if found else None


def key_params() -> tuple[str, ...]:
    """Every benchmark's key parameters, in registry order, each once."""
    return tuple(dict.fromkeys(k for b in benchmarks().values() for k in b.key_params))


def key_defaults() -> dict[tuple[str, str], object]:
    """{(bench, key parameter): what a row without it means}, where a benchmark says."""
    return {(b.name, k): v for b in benchmarks().values() for k, v in b.key_params.items() if v is not None}
