"""Conformance results: one row per case, as CSV, Parquet, JUnit XML and an HTML report."""

from __future__ import annotations

import html
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

COLUMNS = ["case_id", "group", "clause", "level", "role", "verdict", "detail", "pcap"]
EXTRA = ["requirement", "as_recorded", "outcome", "mode", "observed", "notes", "duration_s", "dut", "implementation",
         "signature", "reproducer", "reproduced", "attempts"]
VERDICT_ORDER = ["crashes", "deviates", "inconclusive", "error", "known-deviation", "conforms", "not-applicable"]


def write_conformance(rows: Iterable[dict], run_dir: Path, dut_name: str, implementation: str) -> pd.DataFrame:
    """Write conformance.csv, conformance.parquet, junit.xml and report.html into `run_dir`."""
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        frame = pd.DataFrame(columns=COLUMNS + EXTRA)
    # Rows name the DUT that ran them; rows without one (not applicable for want of a DUT) get the run's.
    for column, default in (("dut", dut_name), ("implementation", implementation)):
        if column not in frame:
            frame[column] = default
        frame[column] = frame[column].replace("", default).fillna(default)
    for column in COLUMNS + EXTRA:
        if column not in frame:
            frame[column] = ""
    frame = frame[COLUMNS + EXTRA]
    frame.to_csv(run_dir / "conformance.csv", index=False)
    frame.to_parquet(run_dir / "conformance.parquet", index=False)
    _junit(frame, run_dir / "junit.xml")
    from .report import render_report

    render_report(run_dir)
    return frame


def load_conformance(run_dir: Path) -> pd.DataFrame:
    parquet = run_dir / "conformance.parquet"
    return pd.read_parquet(parquet) if parquet.exists() else pd.read_csv(run_dir / "conformance.csv")


def _junit(frame: pd.DataFrame, path: Path) -> None:
    """JUnit XML from each row's outcome (dmvpn.conformance.outcome): fail -> failure, incomplete ->
    error (could not test), skip -> skipped, xfail -> skipped as pytest writes it."""
    suite = ET.Element("testsuite", name="dmvpn-conformance", tests=str(len(frame)))
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    for row in frame.itertuples(index=False):
        case = ET.SubElement(suite, "testcase", classname=f"conformance.{row.group}", name=f"{row.case_id} {row.clause}")
        case.set("time", str(row.duration_s or 0))
        kind = str(row.outcome)
        if kind == "fail":
            counts["failures"] += 1
            ET.SubElement(case, "failure", message=row.verdict).text = str(row.detail)
        elif kind == "incomplete":
            counts["errors"] += 1
            ET.SubElement(case, "error", message=f"could not test ({row.verdict})").text = str(row.detail)
        elif kind == "skip":
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=str(row.detail))
        elif kind == "xfail":
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", type="pytest.xfail", message=f"known deviation: {row.detail}")
    for name, value in counts.items():
        suite.set(name, str(value))
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top;font-size:90%}
th{background:#f3f3f3}.conforms{background:#e7f6e7}.deviates,.crashes{background:#fbe3e3}
.inconclusive,.error{background:#e3e8fb}.known-deviation{background:#fff4d6}.not-applicable{background:#eee;color:#666}
code{font-size:95%}
"""


def conformance_section(run_dir: Path, frames: list[pd.DataFrame]) -> str:
    """HTML: summary by clause group, the deviation list with evidence links, and, when several runs
    or DUTs are given, a matrix of cases by implementation."""
    combined = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS + EXTRA)
    parts = ["<h1>Conformance</h1>"]
    for (dut, implementation), frame in combined.groupby(["dut", "implementation"], sort=False):
        counts = frame["verdict"].value_counts()
        summary = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICT_ORDER if counts.get(v, 0))
        parts.append(f"<h2>{html.escape(str(dut))}</h2><p>profile <code>{html.escape(str(implementation))}</code>: {summary}</p>")
        table = frame.pivot_table(index="group", columns="verdict", values="case_id", aggfunc="count", fill_value=0)
        table = table[[v for v in VERDICT_ORDER if v in table.columns]]
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
        parts.append("<h3>All cases</h3><table><tr><th>case</th><th>group</th><th>clause</th><th>level</th><th>role</th><th>verdict</th><th>detail</th><th>evidence</th></tr>")
        for row in frame.sort_values("case_id").itertuples(index=False):
            parts.append(
                f"<tr class='{row.verdict}'><td>{row.case_id}</td><td>{row.group}</td><td>{html.escape(str(row.clause))}</td>"
                f"<td>{row.level}</td><td>{row.role}</td><td>{row.verdict}</td><td>{html.escape(str(row.detail))}</td>"
                f"<td>{_evidence_link(run_dir, row.pcap)}</td></tr>"
            )
        parts.append("</table>")
    if combined["implementation"].nunique() > 1 or combined["dut"].nunique() > 1:
        matrix = combined.pivot_table(index="case_id", columns="dut", values="verdict", aggfunc="first", fill_value="")
        parts.append("<h2>Cases by implementation</h2><table><tr><th>case</th>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in matrix.columns) + "</tr>")
        for case_id, row in matrix.iterrows():
            parts.append(f"<tr><td>{case_id}</td>" + "".join(f"<td class='{v}'>{v}</td>" for v in row) + "</tr>")
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
            "packets the case sent; <code>dmvpn replay REPRODUCER</code> sends them to a freshly booted DUT.</p>"
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
