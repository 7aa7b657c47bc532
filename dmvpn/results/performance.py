"""Performance results: benchmark rows -> pandas -> performance.csv/.parquet, plots, report, compare.

A row is what `dmvpn bench NAME --json` prints: {"bench", "metric", "value", "unit", parameters...}.
`write_performance(rows, run_dir)` writes performance.csv and performance.parquet, PNG plots under
plots/ (rate vs N, registration latency CDF, time-to-shortcut distribution, generator vs blocking
loop), performance.html, and the same section into report.html (appended to the conformance
report when there is one, between markers, so rewriting it replaces only that section).

`run_performance(run_dir, quick)` is the performance suite of the main job: generator,
registration (FRR hub, N = 100, 1 000, 10 000) and shortcut (FRR spokes), 3 repetitions each,
within 5 minutes; quick=True is a smaller smoke run, scale=True a longer one.

`compare_runs(a, b, threshold)` sets two runs side by side: the median over repetitions of every
summary figure, keyed by bench, metric and the size parameters (spokes, pairs, nflog_threshold),
and flags a regression when the candidate is worse than the baseline by more than `threshold`
(relative) in the figure's own direction (rates up, latencies down) and, unless strict, the two
runs' ranges over repetitions do not overlap (FRR figures on a shared 2-core machine are noisy).
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

COLUMNS = ["bench", "metric", "value", "unit"]
#: parameters that say which figure a row is (besides bench and metric); repetitions are medianed
KEY_PARAMS = ("spokes", "pairs", "nflog_threshold")
#: a key parameter a bench's rows may lack, and what its absence means
KEY_DEFAULTS = {("shortcut", "nflog_threshold"): 0}
#: per-sample rows (distributions), not figures to compare
SAMPLE_METRICS = frozenset({"latency_ms_q", "time_to_shortcut_ms", "time_to_redirect_ms"})
HIGHER_IS_BETTER = frozenset({
    "exchanges_per_s", "exchanges_per_cpu_s", "vs_blocking_ratio", "max_rate_no_loss", "register_rate", "cache_entries",
    "blocking_exchanges_per_s", "template_vs_scapy_ratio", "trafgen_pps", "local_pps",
    "local_vs_trafgen_ratio", "local_2w_pps", "two_vs_one_worker_ratio",
})
LOWER_IS_BETTER = frozenset({
    "p50_ms", "p99_ms", "all_in_cache_s", "time_to_shortcut_ms_p50", "time_to_shortcut_ms_p99",
    "time_to_redirect_ms_p50", "refresh_p99_ms_at_max", "template_us", "scapy_us",
})
BEGIN, END = "<!-- dmvpn-performance:begin -->", "<!-- dmvpn-performance:end -->"


# --------------------------------------------------------------------------------------------------
# rows -> frame -> files


def to_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a DataFrame: bench, metric, value, unit first, then the parameters (sorted)."""
    frame = pd.DataFrame(list(rows))
    for column in COLUMNS:
        if column not in frame:
            frame[column] = pd.Series(dtype="float64" if column == "value" else "object")
    params = sorted(c for c in frame.columns if c not in COLUMNS)
    frame = frame[COLUMNS + params]
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    for column in frame.columns:
        if frame[column].dtype == object:
            # mixed columns (a parameter numeric in one bench, text in another) become text;
            # missing stays missing, so Parquet gets one type per column
            values = frame[column]
            if values.dropna().map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)).all():
                frame[column] = pd.to_numeric(values, errors="coerce")
            else:
                frame[column] = values.map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    return frame


def write_performance(rows: Iterable[dict[str, Any]], run_dir: Path, notes: Iterable[str] = ()) -> pd.DataFrame:
    """performance.csv, performance.parquet, plots/*.png, performance.html and report.html's section."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    frame = rows if isinstance(rows, pd.DataFrame) else to_frame(rows)
    frame.to_csv(run_dir / "performance.csv", index=False)
    frame.to_parquet(run_dir / "performance.parquet", index=False)
    plots = render_plots(frame, run_dir / "plots")
    section = html_section(frame, run_dir, plots, list(notes))
    page = f"<!doctype html><meta charset=utf-8><title>dmvpn performance</title><style>{_CSS}</style>\n{section}\n"
    (run_dir / "performance.html").write_text(page)
    from .report import render_report

    render_report(run_dir)
    return frame


def load_performance(run_dir: Path) -> pd.DataFrame:
    run_dir = Path(run_dir)
    parquet = run_dir / "performance.parquet"
    if parquet.exists():
        return pd.read_parquet(parquet)
    csv = run_dir / "performance.csv"
    if csv.exists():
        return pd.read_csv(csv)
    raise FileNotFoundError(f"{run_dir} has no performance.parquet or performance.csv")


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One line per figure (bench, metric, size parameters): median, min, max over repetitions, n."""
    if frame.empty:
        return pd.DataFrame(columns=["bench", "metric", *KEY_PARAMS, "unit", "median", "min", "max", "n"])
    data = frame[~frame["metric"].isin(SAMPLE_METRICS)].copy()
    for key in KEY_PARAMS:
        if key not in data:
            data[key] = pd.NA
        data[key] = data[key].astype("Float64")
    for (bench, key), default in KEY_DEFAULTS.items():
        rows_of = data["bench"] == bench
        data.loc[rows_of, key] = data.loc[rows_of, key].fillna(default)
    keys = ["bench", "metric", *KEY_PARAMS, "unit"]
    grouped = data.groupby(keys, dropna=False, sort=False)["value"]
    out = grouped.agg(["median", "min", "max", "count"]).reset_index().rename(columns={"count": "n"})
    return out


# --------------------------------------------------------------------------------------------------
# plots


def _median_by(frame: pd.DataFrame, bench: str, metric: str, key: str) -> pd.DataFrame:
    data = frame[(frame["bench"] == bench) & (frame["metric"] == metric)]
    if data.empty or key not in data:
        return pd.DataFrame()
    return data.groupby(key)["value"].agg(["median", "min", "max"]).reset_index().sort_values(key)


def render_plots(frame: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    """PNG plots of what the frame holds: {name: path}."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    plots: dict[str, Path] = {}

    def save(fig: Any, name: str) -> None:
        path = out_dir / f"{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        plots[name] = path

    # rate vs N
    lines = [(m, label) for m, label in (("max_rate_no_loss", "max refresh rate without loss"),
                                         ("register_rate", "registration storm throughput"))
             if not _median_by(frame, "registration", m, "spokes").empty]
    if lines:
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for metric, label in lines:
            d = _median_by(frame, "registration", metric, "spokes")
            ax.errorbar(d["spokes"], d["median"], yerr=[d["median"] - d["min"], d["max"] - d["median"]],
                        marker="o", capsize=3, label=label)
        ax.set_xscale("log")
        ax.set_xlabel("emulated spokes N")
        ax.set_ylabel("requests/s (median, min-max)")
        ax.set_title("FRR hub: registration rate vs N")
        ax.set_ylim(bottom=0)
        ax.legend()
        ax.grid(True, alpha=0.3)
        save(fig, "rate_vs_spokes")

    # latency CDF (registration storm), one curve per N (median of the repetitions per quantile)
    q = frame[(frame["bench"] == "registration") & (frame["metric"] == "latency_ms_q")]
    if not q.empty and "q" in q and "spokes" in q:
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
        save(fig, "latency_cdf")

    # time to shortcut distribution
    s = frame[(frame["bench"] == "shortcut") & (frame["metric"].isin(["time_to_shortcut_ms", "time_to_redirect_ms"]))]
    s = s[s["value"].notna()]
    if not s.empty:
        fig, ax = plt.subplots(figsize=(6.4, 4))
        variants = s["nflog_threshold"].fillna(0).unique() if "nflog_threshold" in s else [0]
        for variant in sorted(variants):
            part = s[s["nflog_threshold"].fillna(0) == variant] if "nflog_threshold" in s else s
            suffix = f", hub nflog-threshold {int(variant)}" if variant else ""
            for metric, label in (("time_to_shortcut_ms", "first hairpinned -> first direct"),
                                  ("time_to_redirect_ms", "first hairpinned -> Traffic Indication")):
                values = part[part["metric"] == metric]["value"].to_numpy()
                if len(values):
                    ax.hist(values, bins=max(5, min(30, len(values))), alpha=0.6, label=f"{label}{suffix} (n={len(values)})")
        ax.set_xlabel("ms")
        ax.set_ylabel("pairs")
        ax.set_title("FRR spokes: time to shortcut (Phase 3)")
        ax.legend()
        ax.grid(True, alpha=0.3)
        save(fig, "shortcut")

    # generator vs blocking loop
    g = frame[(frame["bench"] == "generator") & (frame["metric"].isin(["exchanges_per_s", "blocking_exchanges_per_s"]))]
    if not g.empty:
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
        save(fig, "generator")
    return plots


# --------------------------------------------------------------------------------------------------
# HTML

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top;font-size:90%}
th{background:#f3f3f3}img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
"""


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:,.3f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:,.0f}"
    return html.escape(str(v))


def html_section(frame: pd.DataFrame, run_dir: Path, plots: dict[str, Path], notes: list[str] | None = None) -> str:
    parts = [BEGIN, "<h1>DMVPN performance</h1>"]
    for note in notes or []:
        parts.append(f"<p><em>{html.escape(note)}</em></p>")
    table = summary(frame)
    if table.empty:
        parts.append("<p>No performance rows.</p>")
    else:
        parts.append("<h2>Figures (median over repetitions)</h2><table><tr><th>bench</th><th>metric</th>"
                     + "".join(f"<th>{k.replace('_', ' ')}</th>" for k in KEY_PARAMS)
                     + "<th>median</th><th>min</th><th>max</th><th>unit</th><th>n</th></tr>")
        for row in table.itertuples(index=False):
            size = [("-" if pd.isna(getattr(row, k)) else f"{int(getattr(row, k)):,}") for k in KEY_PARAMS]
            parts.append(
                f"<tr><td>{row.bench}</td><td>{row.metric}</td>" + "".join(f"<td>{x}</td>" for x in size) + ""
                f"<td>{_fmt(float(row.median))}</td><td>{_fmt(float(row.min))}</td><td>{_fmt(float(row.max))}</td>"
                f"<td>{html.escape(str(row.unit))}</td><td>{row.n}</td></tr>"
            )
        parts.append("</table>")
    for name, path in plots.items():
        rel = path.relative_to(run_dir) if path.is_relative_to(run_dir) else path
        parts.append(f"<h3>{html.escape(name.replace('_', ' '))}</h3><img src='{html.escape(str(rel))}' alt='{name}'>")
    parts.append("<p>All rows: <a href='performance.csv'>performance.csv</a>, "
                 "<a href='performance.parquet'>performance.parquet</a>.</p>")
    parts.append(END)
    return "\n".join(parts)


def performance_section(run_dir: Path) -> str:
    """The performance section of report.html, as performance.html holds it ("" if none)."""
    path = Path(run_dir) / "performance.html"
    if not path.exists():
        return ""
    text = path.read_text()
    start, stop = text.find(BEGIN), text.find(END)
    return text[start : stop + len(END)] if start >= 0 and stop > start else ""


# --------------------------------------------------------------------------------------------------
# compare


def resolve_run(name: str | Path, reports: Path | None = None) -> Path:
    """A run directory: the path itself, or reports/<name>."""
    path = Path(name)
    if path.is_dir():
        return path
    from dmvpn.results.rundir import REPORTS

    candidate = (reports or REPORTS) / str(name)
    if candidate.is_dir():
        return candidate
    raise FileNotFoundError(f"no run {name!r} (neither a directory nor under {reports or REPORTS})")


def direction(metric: str) -> str:
    if metric in HIGHER_IS_BETTER:
        return "higher"
    if metric in LOWER_IS_BETTER:
        return "lower"
    return ""


def compare_frames(a: pd.DataFrame, b: pd.DataFrame, threshold: float = 0.10, strict: bool = False) -> pd.DataFrame:
    """Figures of both runs side by side (medians over repetitions).

    `beyond_threshold`: b's median is worse than a's by more than `threshold` (relative, in the
    figure's direction). `regression`: beyond the threshold and, unless `strict`, outside the noise
    as well: with two or more repetitions on each side, the ranges (min..max) must not overlap.
    A figure that a had and b lost (missing or NaN) is a regression.
    """
    sa, sb = summary(a), summary(b)
    keys = ["bench", "metric", *KEY_PARAMS]
    merged = sa.merge(sb, on=keys, how="outer", suffixes=("_a", "_b"))
    out = pd.DataFrame({k: merged[k] for k in keys})
    out["unit"] = merged["unit_a"].fillna(merged["unit_b"])
    out["a"] = merged["median_a"].astype("float64")
    out["b"] = merged["median_b"].astype("float64")
    out["change"] = (out["b"] - out["a"]) / out["a"].abs()
    out.loc[out["a"] == 0, "change"] = float("nan")
    out["better"] = out["metric"].map(direction)
    out["n_a"], out["n_b"] = merged["n_a"].fillna(0).astype(int), merged["n_b"].fillna(0).astype(int)
    worse = ((out["better"] == "higher") & (out["change"] < -threshold)) | ((out["better"] == "lower") & (out["change"] > threshold))
    separated = ((out["better"] == "higher") & (merged["max_b"] < merged["min_a"])) | (
        (out["better"] == "lower") & (merged["min_b"] > merged["max_a"]))
    few = (out["n_a"] < 2) | (out["n_b"] < 2)
    # a figure that disappeared or became NaN is a regression too (e.g. no shortcut at all any more)
    vanished = out["better"].ne("") & out["a"].notna() & out["b"].isna()
    out["beyond_threshold"] = (worse | vanished).astype(bool)
    out["regression"] = (vanished | (worse & (strict | few | separated))).astype(bool)
    return out.reset_index(drop=True)


def compare_runs(run_a: Path, run_b: Path, threshold: float = 0.10, strict: bool = False) -> pd.DataFrame:
    return compare_frames(load_performance(run_a), load_performance(run_b), threshold, strict)


def format_comparison(table: pd.DataFrame, run_a: Path, run_b: Path, threshold: float, strict: bool = False) -> str:
    rule = f"worse by more than {threshold:.0%} in the figure's direction"
    if not strict:
        rule += " and outside the noise (min-max over repetitions do not overlap)"
    lines = [f"A = {run_a}", f"B = {run_b}", f"REGRESSION: {rule}", ""]
    header = f"{'bench':<13} {'metric':<26} {'size':>12} {'A':>14} {'B':>14} {'change':>9}  verdict"
    lines.append(header)
    lines.append("-" * len(header))
    for row in table.itertuples(index=False):
        size = " ".join(f"{k[0]}={int(getattr(row, k)):,}" for k in KEY_PARAMS if not pd.isna(getattr(row, k)))
        change = "" if pd.isna(row.change) else f"{row.change:+.1%}"
        verdict = "REGRESSION" if row.regression else "worse, within noise" if row.beyond_threshold else ("better" if _better(row, threshold) else "")
        lines.append(f"{row.bench:<13} {row.metric:<26} {size:>12} {_num(row.a):>14} {_num(row.b):>14} {change:>9}  {verdict}")
    n = int(table["regression"].sum()) if len(table) else 0
    lines.append("")
    lines.append(f"{n} regression(s)" if n else "no regressions")
    return "\n".join(lines)


def _num(v: float) -> str:
    if v is None or pd.isna(v):
        return "-"
    return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"


def _better(row: Any, threshold: float) -> bool:
    if pd.isna(row.change):
        return False
    return (row.better == "higher" and row.change > threshold) or (row.better == "lower" and row.change < -threshold)


# --------------------------------------------------------------------------------------------------
# the main job's performance suite


def run_performance(run_dir: Path, quick: bool = False, *, scale: bool = False,
                    progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Run the performance suite, write its files into `run_dir`, return the rows as a DataFrame.

    Default (about 4-5 minutes): generator (10 000 spokes, 3 x 200 000 exchanges), registration
    against the FRR hub for N = 100, 1 000, 10 000 (3 repetitions each), shortcut with 2 pairs of
    FRR spokes (3 repetitions, a fresh lab each). quick=True: one repetition, N = 100 and 1 000,
    one pair (about 1 minute). scale=True: N up to 20 000, longer ramp steps, 3 pairs.
    A benchmark that cannot run here (no root, no lab) is skipped with a note in the report; one
    that fails is named in frame.attrs["failed"] (the others still run and are written).
    """
    from dmvpn.engines import bench

    say = progress or (lambda msg: None)
    run_dir = Path(run_dir)
    reps = 1 if quick else 3
    if scale:
        plan = {"gen_count": 500_000, "spokes": (100, 1000, 10000, 20000), "step": 2.0, "bisect": 4, "pairs": 3}
    elif quick:
        plan = {"gen_count": 50_000, "spokes": (100, 1000), "step": 0.5, "bisect": 2, "pairs": 1}
    else:
        plan = {"gen_count": 200_000, "spokes": (100, 1000, 10000), "step": 1.0, "bisect": 3, "pairs": 2}
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    failed: list[str] = []
    runs = (
        ("generator", lambda: bench.bench_generator(count=plan["gen_count"], repeat=reps, progress=say)),
        ("registration", lambda: bench.bench_registration(spokes=plan["spokes"], repeat=reps, step_s=plan["step"],
                                                          bisect=plan["bisect"], progress=say)),
        ("shortcut", lambda: bench.bench_shortcut(pairs=plan["pairs"], repeat=reps, progress=say)),
    )
    t0 = time.monotonic()
    for name, run in runs:
        t = time.monotonic()
        try:
            for row in run():
                rows.append(row)
        except PermissionError as exc:
            notes.append(f"{name}: skipped: {exc}")
        except Exception as exc:  # keep the other benchmarks' rows; the failure is in the notes
            from dmvpn.lab import PrerequisiteError

            if isinstance(exc, PrerequisiteError):
                notes.append(f"{name}: skipped: {exc}")
            else:
                failed.append(name)
                notes.append(f"{name}: FAILED: {type(exc).__name__}: {exc}")
        say(f"{name}: {time.monotonic() - t:.0f} s")
    notes.append(f"performance suite ({'quick' if quick else 'scale' if scale else 'default'}): "
                 f"{time.monotonic() - t0:.0f} s")
    frame = to_frame(rows)
    write_performance(frame, run_dir, notes)
    frame.attrs["notes"] = notes
    frame.attrs["failed"] = failed  # benchmarks that raised: the caller decides the exit code
    return frame
