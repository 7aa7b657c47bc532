"""The benchmark registry: what the CLI, the main job, the comparison and the plots read."""

from __future__ import annotations

import argparse

import pytest

from dmvpn import bench as registry
from dmvpn import perf
from dmvpn.bench.spec import Benchmark, Metric, Option, record
from dmvpn.results.performance import direction, is_sample

# what results/performance.py's tables said before the registry (the comparison must not change)
HIGHER = {
    "exchanges_per_s", "exchanges_per_cpu_s", "vs_blocking_ratio", "max_rate_no_loss", "register_rate", "cache_entries",
    "blocking_exchanges_per_s", "template_vs_scapy_ratio", "trafgen_pps", "local_pps",
    "local_vs_trafgen_ratio", "local_2w_pps", "two_vs_one_worker_ratio",
}
LOWER = {
    "p50_ms", "p99_ms", "all_in_cache_s", "time_to_shortcut_ms_p50", "time_to_shortcut_ms_p99",
    "time_to_redirect_ms_p50", "refresh_p99_ms_at_max", "template_us", "scapy_us",
}
SAMPLES = {"latency_ms_q", "time_to_shortcut_ms", "time_to_redirect_ms"}


def test_every_module_declares_its_benchmark() -> None:
    found = registry.benchmarks()
    assert tuple(found) == registry.MODULES == ("build", "engine", "esp", "generator", "registration", "shortcut")
    for name, bench in found.items():
        assert bench.name == name and bench.summary and bench.metrics and callable(bench.run)
        assert all(isinstance(m, Metric) for m in bench.metrics.values())


def test_the_declarations_say_what_the_tables_said() -> None:
    for bench in registry.benchmarks().values():
        for name, m in bench.metrics.items():
            assert m.better == ("higher" if name in HIGHER else "lower" if name in LOWER else ""), (bench.name, name)
            assert m.sample == (name in SAMPLES) == is_sample(bench.name, name)
            assert direction(name, bench.name) == direction(name) == m.better
    assert registry.key_params() == ("spokes", "pairs", "nflog_threshold")
    assert registry.key_defaults() == {("shortcut", "nflog_threshold"): 0}
    assert [b.name for b in registry.benchmarks().values() if b.main_job] == ["generator", "registration", "shortcut"]
    assert registry.get("registration").main_job["default"]["spokes"] == (100, 1000, 10000)
    assert registry.get("registration").main_job["scale"]["spokes"] == (100, 1000, 10000, 20000)
    assert [p.name for b in registry.benchmarks().values() for p in b.plots] == [
        "generator", "rate_vs_spokes", "latency_cdf", "shortcut"]


def test_the_bench_command_is_built_from_the_registry() -> None:
    parser = argparse.ArgumentParser(prog="dmvpn")
    perf.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "registration", "--spokes", "10,20", "--nat", "never"])
    assert args.spokes == [10, 20] and args.nat == "never" and args.step == 1.0 and args.iterations == 20000
    bench = parser._subparsers._group_actions[0].choices["bench"]
    count = next(a for a in bench._actions if "--count" in a.option_strings)
    assert "engine: packets per sender" in count.help and "generator: exchanges per repetition" in count.help
    repeat = next(a for a in bench._actions if "--repeat" in a.option_strings)
    assert "build, engine, esp: repetitions (1)" in repeat.help


def _fake(name: str, run, main_job=None, options=()) -> Benchmark:
    return Benchmark(name=name, run=run, summary=name, metrics={"m": Metric("x", "higher")},
                     from_args=lambda args, say: run(), main_job=main_job or {}, options=options)


def test_options_that_disagree_are_refused(monkeypatch) -> None:
    fakes = {"a": _fake("a", lambda: iter(()), options=(Option("--count", "a", int, 1),)),
             "b": _fake("b", lambda: iter(()), options=(Option("--count", "b", int, 2),))}
    monkeypatch.setattr(registry, "benchmarks", lambda: fakes)
    with pytest.raises(ValueError, match="--count"):
        perf._add_bench_options(argparse.ArgumentParser())


def test_the_main_job_runs_what_the_registry_sizes(monkeypatch, tmp_path) -> None:
    calls = []

    def ok(count: int, progress=None):
        calls.append(count)
        yield record("ok", "m", 1.0, "x", count=count)

    def denied(progress=None, **sizes):
        raise PermissionError("needs root")
        yield

    def broken(progress=None, **sizes):
        raise RuntimeError("boom")
        yield

    fakes = {
        "ok": _fake("ok", ok, {"quick": {"count": 1}, "default": {"count": 2}, "scale": {"count": 3}}),
        "denied": _fake("denied", denied, {"default": {}}),
        "broken": _fake("broken", broken, {"default": {}}),
        "manual": _fake("manual", ok),  # no main_job: not run
    }
    monkeypatch.setattr(registry, "benchmarks", lambda: fakes)
    frame = perf.run_performance(tmp_path / "run")
    assert calls == [2] and list(frame["bench"]) == ["ok"] and frame.attrs["failed"] == ["broken"]
    assert any("denied: skipped: needs root" in n for n in frame.attrs["notes"])
    perf.run_performance(tmp_path / "scale", scale=True)
    assert calls == [2, 3]
    # data only: the report is rendered by whoever owns the run (dmvpn run, at its end)
    assert (tmp_path / "run" / "performance.parquet").exists() and not (tmp_path / "run" / "report.html").exists()
