"""The conformance section: summary by clause group, the deviation list with evidence links and,
with other runs or DUTs, a matrix of cases by implementation; from conformance.parquet/.csv."""

from __future__ import annotations

import html
import os
from pathlib import Path

import pandas as pd

from dmvpn.results.compare import behaviour
from dmvpn.results.conformance import COLUMNS, EXTRA, VERDICT_ORDER, load_conformance


def section(run_dir: Path, others: list[Path] = ()) -> str:
    frames = [load_conformance(d).assign(run=Path(d).resolve().name) for d in [run_dir, *others] if (Path(d) / "conformance.csv").exists()]
    return conformance_section(run_dir, frames) if frames else ""


def column_label(frame: pd.DataFrame, frames: list[pd.DataFrame]) -> str:
    """The matrix column of a run: its implementation, and the run when two runs share one."""
    implementation = str(frame["implementation"].iloc[0]) if len(frame) else "?"
    same = [f for f in frames if len(f) and str(f["implementation"].iloc[0]) == implementation]
    return implementation if len(same) < 2 else f"{implementation} ({frame['run'].iloc[0]})"


def conformance_section(run_dir: Path, frames: list[pd.DataFrame]) -> str:
    """HTML: summary by clause group, the deviation list with evidence links, and, when several runs
    or DUTs are given, a matrix of cases by implementation."""
    frames = [f if "run" in f else f.assign(run=f"run {i + 1}") for i, f in enumerate(frames)]
    combined = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS + EXTRA + ["run"])
    parts = ["<h1>Conformance</h1>"]
    if len(frames) > 1:
        parts.append(_matrix(run_dir, frames))
    for (_, dut, implementation), frame in combined.groupby(["run", "dut", "implementation"], sort=False):
        counts = frame["verdict"].value_counts()
        summary = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICT_ORDER if counts.get(v, 0))
        parts.append(f"<h2>{html.escape(str(dut))}</h2><p>profile <code>{html.escape(str(implementation))}</code>: {summary}</p>")
        table = frame.pivot_table(index="group", columns="verdict", values="case_id", aggfunc="count", fill_value=0)
        table = table[[v for v in VERDICT_ORDER if v in table.columns]]
        parts.append(_result(frame))
        parts.append("<h3>By clause group</h3>" + table.to_html(border=0))
        parts.append(_crash_findings(run_dir, frame))
        parts.append(_could_not_test(frame))
        bad = frame[frame["verdict"].isin(["crashes", "deviates", "known-deviation"])].copy()
        parts.append(f"<h3>Deviations ({len(bad)})</h3>")
        if not bad.empty:
            parts.append("<table><tr><th>case</th><th>clause</th><th>level</th><th>verdict</th><th>requirement</th><th>what happened</th><th>evidence</th></tr>")
            bad["_order"] = bad["verdict"].map(VERDICT_ORDER.index)
            for row in bad.sort_values(["_order", "case_id"]).itertuples(index=False):
                link = _evidence_link(run_dir, row.pcap)
                parts.append(
                    f"<tr class='{row.verdict}'><td>{row.case_id}</td><td>{html.escape(str(row.clause))}</td>"
                    f"<td>{row.level}</td><td>{row.verdict}</td><td>{html.escape(str(row.requirement))}</td>"
                    f"<td>{html.escape(str(row.detail))}</td><td>{link}</td></tr>"
                )
            parts.append("</table>")
        parts.append("<h3>All cases</h3><table><tr><th>case</th><th>group</th><th>clause</th><th>level</th><th>role</th><th>verdict</th><th>outcome</th><th>detail</th><th>evidence</th></tr>")
        for row in frame.sort_values("case_id").itertuples(index=False):
            parts.append(
                f"<tr class='{row.verdict}'><td>{row.case_id}</td><td>{row.group}</td><td>{html.escape(str(row.clause))}</td>"
                f"<td>{row.level}</td><td>{row.role}</td><td>{row.verdict}</td><td>{html.escape(_outcome_words(row.outcome))}</td>"
                f"<td>{html.escape(str(row.detail))}</td><td>{_evidence_link(run_dir, row.pcap)}</td></tr>"
            )
        parts.append("</table>")
    return "\n".join(parts)


def _evidence_link(run_dir: Path, pcap: str) -> str:
    if not pcap or not isinstance(pcap, str):
        return ""
    try:
        rel = os.path.relpath(pcap, run_dir)
    except ValueError:
        rel = pcap
    return f"<a href='{html.escape(rel)}'>{html.escape(Path(pcap).name)}</a>"


def _crash_findings(run_dir: Path, frame: pd.DataFrame) -> str:
    crashes = frame[frame["verdict"] == "crashes"]
    if crashes.empty:
        return ""
    rows = []
    for row in crashes.sort_values("case_id").itertuples(index=False):
        rows.append(
            f"<tr class='crashes'><td>{row.case_id}</td><td>{html.escape(str(row.signature))}</td>"
            f"<td>{html.escape(str(row.reproduced) or 'not replayed')}</td>"
            f"<td>{_evidence_link(run_dir, str(row.reproducer))}</td><td>{_evidence_link(run_dir, row.pcap)}</td></tr>"
        )
    return (f"<h3>Crashes ({len(crashes)})</h3><p>Cases during which the DUT went down. The reproducer holds the "
            "packets the case sent; <code>dmvpn replay REPRODUCER</code> sends them to freshly booted DUTs.</p>"
            "<table><tr><th>case</th><th>signature</th><th>reproduced</th><th>reproducer</th><th>case pcap</th></tr>"
            + "".join(rows) + "</table>")


def _could_not_test(frame: pd.DataFrame) -> str:
    rows = frame[frame["verdict"].isin(["inconclusive", "error"])]
    if rows.empty:
        return ""
    items = "".join(
        f"<tr class='{r.verdict}'><td>{r.case_id}</td><td>{r.verdict}</td><td>{html.escape(str(r.detail))}</td></tr>"
        for r in rows.sort_values("case_id").itertuples(index=False)
    )
    return (f"<h3>Could not test ({len(rows)}): the certification is incomplete</h3>"
            "<table><tr><th>case</th><th>verdict</th><th>why</th></tr>" + items + "</table>")


#: the outcome column (dmvpn.conformance.outcome, decided when the run was written) in words
OUTCOME_WORDS = {"pass": "pass", "xfail": "as recorded (known)", "fail": "FAIL", "skip": "skipped", "incomplete": "could not test"}


def _outcome_words(value) -> str:
    return OUTCOME_WORDS.get(str(value), str(value) if isinstance(value, str) else "")


def _result(frame: pd.DataFrame) -> str:
    """The run's result as the exit status and pytest see it: the failing cases first."""
    outcomes = frame["outcome"].astype(str) if "outcome" in frame else pd.Series([], dtype=str)
    mode = str(frame["mode"].iloc[0]) if "mode" in frame and len(frame) and isinstance(frame["mode"].iloc[0], str) else "regression"
    failed = frame[outcomes == "fail"]
    incomplete = frame[outcomes == "incomplete"]
    if not failed.empty:
        words = f"FAILED: {len(failed)} case(s) not as the profile records" if mode == "regression" else f"FAILED: {len(failed)} deviation(s)"
    elif not incomplete.empty:
        words = f"INCOMPLETE: {len(incomplete)} case(s) could not test"
    else:
        words = "passed: the DUT behaved as its profile records" if mode == "regression" else "passed: no deviation"
    rows = "".join(
        f"<tr class='{r.verdict}'><td>{r.case_id}</td><td>{r.verdict}</td><td>{html.escape(str(r.detail))}</td></tr>"
        for r in failed.sort_values("case_id").itertuples(index=False)
    )
    table = ("<table><tr><th>case</th><th>verdict</th><th>why it fails this run</th></tr>" + rows + "</table>") if rows else ""
    return f"<h3>Result ({html.escape(mode)} mode): {html.escape(words)}</h3>{table}"


def _matrix(run_dir: Path, frames: list[pd.DataFrame]) -> str:
    """Cases by implementation (as Autobahn|Testsuite shows them): one column per run, every cell
    linking to that side's evidence; the rows whose verdicts differ are marked and listed first."""
    labels = [column_label(f, frames) for f in frames]
    by_case = [f.set_index("case_id") for f in frames]
    cases = sorted(set().union(*(set(f.index) for f in by_case)))

    def cell(f: pd.DataFrame, case_id: str) -> tuple[str, str]:
        if case_id not in f.index:
            return "absent", "<td>absent</td>"
        row = f.loc[case_id]
        verdict = str(row["verdict"])
        words = f" <small>{html.escape(str(row['observed']))}</small>" if isinstance(row["observed"], str) and row["observed"] and verdict != "conforms" else ""
        return verdict, f"<td class='{verdict}'>{verdict}{words} {_evidence_link(run_dir, row['pcap'])}</td>"

    rows = []
    for case_id in cases:
        cells = [cell(f, case_id) for f in by_case]
        keys = {behaviour(v, f.loc[case_id]["observed"] if case_id in f.index else "") for (v, _), f in zip(cells, by_case)}
        rows.append((len(keys) > 1, case_id, "".join(html_cell for _, html_cell in cells)))
    differing = sum(1 for d, _, _ in rows if d)
    head = "".join(f"<th>{html.escape(label)}</th>" for label in labels)
    body = "".join(
        f"<tr class='{'differs' if d else ''}'><td>{'&#9888; ' if d else ''}{case_id}</td>{cells}</tr>"
        for d, case_id, cells in sorted(rows, key=lambda r: (not r[0], r[1]))
    )
    return (f"<h2>Cases by implementation</h2><p>{differing} of {len(cases)} cases differ "
            f"(marked &#9888;, listed first); each cell links to that run's evidence.</p>"
            f"<table class='matrix'><tr><th>case</th>{head}</tr>{body}</table>")
