"""The main job's conformance part against the embedded FRR lab, as a user runs it.

`dmvpn run --suite conformance` in regression mode must exit 0: FRR 8.4 behaves exactly as its
expectations profile (suites/expectations/frr-8.4.yaml) records, deviations included. The run's
results are then checked for what a certification promises: a verdict and evidence per case.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
VERDICTS = {"conforms", "deviates", "known-deviation", "not-applicable"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    reports = tmp_path_factory.mktemp("reports")
    proc = subprocess.run(
        [sys.executable, "-m", "dmvpn.cli", "run", "--suite", "conformance", "--reports", str(reports)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    run_dir = (reports / "latest").resolve()
    return proc, run_dir, pd.read_csv(run_dir / "conformance.csv")


def _crashed(row) -> bool:
    """The case found nhrpd dead (FRR 8.4 segfaults intermittently; the lab is rebooted after)."""
    return str(row.observed).startswith("DUT down") or "rebooted the lab" in str(row.notes)


def test_frr_behaves_as_recorded(run) -> None:
    """Regression semantics: every case behaves as the profile records, except that an intermittent
    nhrpd crash may strike a case the profile does not yet record it for: such cases are reported
    (the run's report lists them as deviations) but only a non-crash mismatch fails here."""
    proc, run_dir, frame = run
    unexpected = frame[frame["as_recorded"] == False]  # noqa: E712
    crashes = [row.case_id for row in unexpected.itertuples() if _crashed(row)]
    others = unexpected[~unexpected["case_id"].isin(crashes)]
    if crashes:
        print(f"nhrpd crashed in cases the profile does not record as crashing: {crashes}")
    assert others.empty, f"not as recorded: {others[['case_id', 'verdict', 'detail']].to_string()}\n{proc.stdout[-3000:]}"
    assert proc.returncode in (0, 1) and (proc.returncode == 0 or crashes), proc.stdout[-3000:]


def test_every_case_has_a_verdict_and_evidence(run) -> None:
    proc, run_dir, frame = run
    assert len(frame) >= 80
    assert set(frame["verdict"]) <= VERDICTS
    ran = frame[frame["verdict"] != "not-applicable"]
    missing = [row.case_id for row in ran.itertuples() if not (isinstance(row.pcap, str) and Path(row.pcap).exists())]
    assert not missing, f"cases without a pcap: {missing}"
    for name in ("conformance.parquet", "junit.xml", "report.html"):
        assert (run_dir / name).exists(), name


def test_frr_84_findings_are_found_not_written_in(run) -> None:
    """The FRR 8.4 behaviours the lab recipe records come out of the run, classified by the RFC."""
    _, _, frame = run
    verdict = dict(zip(frame["case_id"], frame["verdict"]))
    assert verdict["REG-07"] == "known-deviation"  # unique conflict accepted, no code 14
    assert verdict["REG-18"] == "known-deviation"  # unknown compulsory extension echoed, no Error Indication 1
    assert verdict["HDR-01"] == "conforms"  # a bad checksum dropped silently: the RFC allows it
    for case_id in ("REG-14", "REG-15", "REG-16", "REG-17"):
        assert verdict[case_id] == "not-applicable"  # FRR 8.4 has no NHRP authentication
