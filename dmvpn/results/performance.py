"""Performance results: benchmark rows -> pandas -> performance.csv/.parquet; run comparison.

A row is what `dmvpn bench NAME --json` prints: {"bench", "metric", "value", "unit", parameters...}.
`write_performance(rows, run_dir, notes)` writes performance.csv, performance.parquet and the
run's notes (performance-notes.json): data only; the report (dmvpn.results.report) reads them.

`compare_runs(a, b, threshold)` sets two runs side by side: the median over repetitions of every
summary figure, keyed by bench, metric and the benchmarks' key parameters (spokes, pairs,
nflog_threshold), and flags a regression when the candidate is worse than the baseline by more
than `threshold` (relative) in the figure's own direction (as its benchmark declares it: rates up,
latencies down) and, unless strict, the two runs' ranges over repetitions do not overlap (FRR
figures on a shared 2-core machine are noisy). What a metric means comes from dmvpn.bench.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from dmvpn import bench as registry

COLUMNS = ["bench", "metric", "value", "unit"]
#: parameters that say which figure a row is (besides bench and metric); repetitions are medianed
KEY_PARAMS = registry.key_params()
#: a key parameter a bench's rows may lack, and what its absence means
KEY_DEFAULTS = registry.key_defaults()
#: markers around the performance section in report.html
BEGIN, END = "<!-- dmvpn-performance:begin -->", "<!-- dmvpn-performance:end -->"
NOTES = "performance-notes.json"


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
    """performance.csv, performance.parquet and performance-notes.json (what ran, what was skipped)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    frame = rows if isinstance(rows, pd.DataFrame) else to_frame(rows)
    frame.to_csv(run_dir / "performance.csv", index=False)
    frame.to_parquet(run_dir / "performance.parquet", index=False)
    (run_dir / NOTES).write_text(json.dumps({"notes": list(notes)}, indent=1) + "\n")
    return frame


def has_performance(run_dir: Path) -> bool:
    return (Path(run_dir) / "performance.parquet").exists() or (Path(run_dir) / "performance.csv").exists()


def load_notes(run_dir: Path) -> list[str]:
    path = Path(run_dir) / NOTES
    return list(json.loads(path.read_text()).get("notes", [])) if path.exists() else []


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
    samples = pd.Series([is_sample(b, m) for b, m in zip(frame["bench"], frame["metric"])], index=frame.index, dtype=bool)
    data = frame[~samples].copy()
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


def direction(metric: str, bench: str | None = None) -> str:
    """"higher", "lower" or "" (not judged): as `bench` declares `metric` (without a bench: the
    first benchmark that declares a direction for it)."""
    if bench is not None:
        found = registry.metric(bench, metric)
        return found.better if found else ""
    for b in registry.benchmarks().values():
        if metric in b.metrics and b.metrics[metric].better:
            return b.metrics[metric].better
    return ""


def is_sample(bench: str, metric: str) -> bool:
    """Per-sample rows (a distribution), not a figure to compare."""
    found = registry.metric(bench, metric)
    return bool(found and found.sample)


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
    out["better"] = [direction(m, b) for b, m in zip(out["bench"], out["metric"])]
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
