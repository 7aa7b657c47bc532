"""Conformance results: one row per case, as CSV, Parquet and JUnit XML (the report section that
shows them is dmvpn.results.report.conformance)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

COLUMNS = ["case_id", "group", "clause", "level", "role", "verdict", "detail", "pcap"]
EXTRA = ["requirement", "as_recorded", "outcome", "mode", "observed", "notes", "duration_s", "dut", "implementation",
         "signature", "reproducer", "reproduced", "attempts"]
VERDICT_ORDER = ["crashes", "deviates", "inconclusive", "error", "known-deviation", "conforms", "not-applicable"]


def write_conformance(rows: Iterable[dict], run_dir: Path, dut_name: str, implementation: str) -> pd.DataFrame:
    """Write conformance.csv, conformance.parquet and junit.xml into `run_dir` (data only: the report
    is dmvpn.results.report's, which reads them)."""
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
