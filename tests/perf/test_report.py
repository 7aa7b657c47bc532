"""Performance rows -> files, plots and report; `dmvpn report compare` on two synthetic runs."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from dmvpn.cli import main
from dmvpn.results.performance import (
    BEGIN,
    END,
    compare_frames,
    load_performance,
    summary,
    to_frame,
    write_performance,
)
from dmvpn.results.report import render_report


def rows(scale_rate: float = 1.0, scale_latency: float = 1.0, shortcut: bool = True) -> list[dict]:
    out = []
    for rep in range(3):
        out.append({"bench": "generator", "metric": "exchanges_per_s", "value": 100_000.0 * scale_rate + rep, "unit": "1/s",
                    "spokes": 10000, "repetition": rep, "window": 128})
        out.append({"bench": "generator", "metric": "vs_blocking_ratio", "value": 8.0 * scale_rate, "unit": "x",
                    "spokes": 10000, "repetition": rep})
        for n in (100, 1000, 10000):
            out.append({"bench": "registration", "metric": "max_rate_no_loss", "value": 1500.0 * scale_rate, "unit": "1/s",
                        "spokes": n, "repetition": rep, "ramp": json.dumps([{"rate": 250, "ok": True}])})
            out.append({"bench": "registration", "metric": "p99_ms", "value": 80.0 * scale_latency + n / 1000, "unit": "ms",
                        "spokes": n, "repetition": rep, "implementation": "FRR 8.4.4"})
            out.append({"bench": "registration", "metric": "all_in_cache_s", "value": n / 450.0, "unit": "s",
                        "spokes": n, "repetition": rep})
            out.append({"bench": "registration", "metric": "cache_entries", "value": n, "unit": "entries",
                        "spokes": n, "repetition": rep})
            for q in (0, 50, 99, 100):
                out.append({"bench": "registration", "metric": "latency_ms_q", "value": 1.0 + q * scale_latency, "unit": "ms",
                            "spokes": n, "repetition": rep, "q": q})
        if shortcut:
            for pair in range(2):
                out.append({"bench": "shortcut", "metric": "time_to_shortcut_ms", "value": 1100.0 + 10 * pair + rep, "unit": "ms",
                            "pairs": 2, "pair": pair, "repetition": rep, "a": f"spoke{2 * pair + 1}"})
            out.append({"bench": "shortcut", "metric": "time_to_shortcut_ms_p50", "value": 1105.0 * scale_latency, "unit": "ms",
                        "pairs": 2, "repetition": rep})
    return out


def test_rows_become_csv_parquet_plots_and_a_report(tmp_path) -> None:
    frame = write_performance(rows(), tmp_path)
    render_report(tmp_path)  # writers write data; the report reads it
    for name in ("performance.csv", "performance.parquet", "performance.html", "report.html"):
        assert (tmp_path / name).is_file(), name
    for plot in ("rate_vs_spokes", "latency_cdf", "shortcut", "generator"):
        assert (tmp_path / "plots" / f"{plot}.png").stat().st_size > 1000, plot
    back = load_performance(tmp_path)
    assert len(back) == len(frame) == len(rows())
    assert list(back.columns[:4]) == ["bench", "metric", "value", "unit"]
    csv = pd.read_csv(tmp_path / "performance.csv")
    assert len(csv) == len(frame)
    report = (tmp_path / "report.html").read_text()
    assert BEGIN in report and END in report
    assert "plots/latency_cdf.png" in report and "max_rate_no_loss" in report


def test_mixed_parameter_columns_survive_parquet(tmp_path) -> None:
    frame = to_frame([
        {"bench": "a", "metric": "m", "value": 1, "unit": "x", "p": 3},
        {"bench": "b", "metric": "m", "value": 2.5, "unit": "x", "p": "text"},
        {"bench": "c", "metric": "m", "value": None, "unit": "x"},
    ])
    assert frame["p"].tolist()[:2] == ["3", "text"] and pd.isna(frame["p"].iloc[2])
    assert math.isnan(frame["value"].iloc[2])
    frame.to_parquet(tmp_path / "x.parquet")
    back = pd.read_parquet(tmp_path / "x.parquet")
    assert back["p"].tolist()[:2] == ["3", "text"] and pd.isna(back["p"].iloc[2])


def test_the_performance_section_joins_the_run_report_once(tmp_path) -> None:
    from dmvpn.results import write_conformance

    row = {"case_id": "REG-01", "group": "reg", "clause": "RFC 2332 §5.2.4", "level": "MUST", "role": "hub",
           "verdict": "conforms", "detail": "ok", "pcap": ""}
    write_conformance([row], tmp_path, "a DUT", "x")
    write_performance(rows(), tmp_path)
    write_performance(rows(scale_rate=2.0), tmp_path)
    render_report(tmp_path)
    text = (tmp_path / "report.html").read_text()
    assert "<h1>Conformance</h1>" in text and "REG-01" in text
    assert text.count(BEGIN) == 1 and text.count(END) == 1


def test_summary_takes_the_median_over_repetitions() -> None:
    table = summary(to_frame(rows()))
    gen = table[(table["bench"] == "generator") & (table["metric"] == "exchanges_per_s")].iloc[0]
    assert gen["median"] == 100_001.0 and gen["n"] == 3
    assert set(table["metric"]) >= {"max_rate_no_loss", "p99_ms", "all_in_cache_s", "time_to_shortcut_ms_p50"}
    assert "latency_ms_q" not in set(table["metric"]) and "time_to_shortcut_ms" not in set(table["metric"])
    assert len(table[table["metric"] == "max_rate_no_loss"]) == 3  # one per N


def test_compare_flags_only_what_got_worse_beyond_the_threshold() -> None:
    a = to_frame(rows())
    b = to_frame(rows(scale_rate=0.8, scale_latency=1.05))  # rates -20 %, latencies +5 %
    table = compare_frames(a, b, threshold=0.10)
    flagged = set(table[table["regression"]]["metric"])
    assert flagged == {"exchanges_per_s", "vs_blocking_ratio", "max_rate_no_loss"}
    assert not table[table["metric"] == "p99_ms"]["regression"].any()
    same = compare_frames(a, a, threshold=0.10)
    assert not same["regression"].any()
    faster = compare_frames(a, to_frame(rows(scale_latency=0.5)), threshold=0.10)
    assert not faster["regression"].any()


def test_a_worse_median_within_the_noise_is_not_a_regression_unless_strict() -> None:
    def run(values: list[float]) -> pd.DataFrame:
        return to_frame({"bench": "generator", "metric": "exchanges_per_s", "value": v, "unit": "1/s",
                         "spokes": 10000, "repetition": k} for k, v in enumerate(values))

    a, b = run([80_000, 100_000, 120_000]), run([70_000, 85_000, 110_000])  # median -15 %, ranges overlap
    loose = compare_frames(a, b, threshold=0.10)
    assert loose["beyond_threshold"].all() and not loose["regression"].any()
    assert compare_frames(a, b, threshold=0.10, strict=True)["regression"].all()
    apart = compare_frames(a, run([60_000, 65_000, 70_000]), threshold=0.10)
    assert apart["regression"].all()
    single = compare_frames(run([100_000]), run([85_000]), threshold=0.10)  # one repetition: no noise estimate
    assert single["regression"].all()


def test_a_figure_that_disappears_is_a_regression() -> None:
    table = compare_frames(to_frame(rows()), to_frame(rows(shortcut=False)), threshold=0.10)
    assert set(table[table["regression"]]["metric"]) == {"time_to_shortcut_ms_p50"}


def test_report_compare_command(tmp_path, capsys) -> None:
    run_a, run_b, run_c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_performance(rows(), run_a)
    write_performance(rows(scale_rate=0.5), run_b)
    write_performance(rows(scale_rate=1.02), run_c)
    assert main(["report", "compare", str(run_a), str(run_b)]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "max_rate_no_loss" in out
    assert main(["report", "compare", str(run_a), str(run_c)]) == 0
    assert "no regressions" in capsys.readouterr().out
    assert main(["report", "compare", "a", "b", "--reports", str(tmp_path), "--json", "--threshold", "0.6"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert records and all({"bench", "metric", "a", "b", "change", "regression"} <= set(r) for r in records)
    assert main(["report", "compare", str(run_a), str(tmp_path / "missing")]) == 2


@pytest.mark.parametrize("name", ["generator", "registration", "shortcut"])
def test_bench_names_are_commands(name, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", name, "--help"])
    assert exc.value.code == 0


def test_the_page_is_its_sections_in_order_and_writers_write_data_only(tmp_path) -> None:
    from dmvpn.results import report

    row = {"case_id": "REG-01", "group": "reg", "clause": "RFC 2332 §5.2.4", "level": "MUST", "role": "hub",
           "verdict": "conforms", "detail": "ok", "pcap": ""}
    from dmvpn.results import write_conformance

    write_conformance([row], tmp_path, "a DUT", "x")
    write_performance(rows(), tmp_path, ["a note"])
    (tmp_path / "wire").mkdir()
    (tmp_path / "wire" / "summary.txt").write_text("wire layer vs tshark: 1/1 packets agree\n")
    assert not (tmp_path / "report.html").exists() and not (tmp_path / "plots").exists()
    assert report.SECTIONS == ("wire", "conformance", "performance")
    text = render_report(tmp_path).read_text()
    heads = [text.index(h) for h in ("<h1>Wire self-check</h1>", "<h1>Conformance</h1>", "<h1>DMVPN performance</h1>")]
    assert heads == sorted(heads) and "a note" in text and text.count("<style>") == 1
    assert (tmp_path / "performance.html").read_text().count(BEGIN) == 1


def test_pytest_alone_gets_a_report(tmp_path) -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/conformance/header.py", "--dut", "inprocess", "--run-dir", str(tmp_path),
         "-p", "no:cacheprovider", "-q"], cwd=root, capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]
    text = (tmp_path / "report.html").read_text()
    assert "<h1>Conformance</h1>" in text and (tmp_path / "junit.xml").exists()
