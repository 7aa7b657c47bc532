"""The conformance section: summary by clause group, the deviation list with evidence links and,
with other runs or DUTs, a matrix of cases by implementation; from conformance.parquet/.csv."""

from __future__ import annotations

import html
import os
from pathlib import Path

import pandas as pd

from dmvpn.results.conformance import COLUMNS, EXTRA, VERDICT_ORDER, load_conformance


def section(run_dir: Path, others: list[Path] = ()) -> str:
    frames = [load_conformance(d) for d in [run_dir, *others] if (d / "conformance.csv").exists()]
    return conformance_section(run_dir, frames) if frames else ""


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
        bad = frame[frame["verdict"].isin(["deviates", "known-deviation", "error"])].copy()
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
