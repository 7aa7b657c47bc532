"""The main job's conformance part against the embedded FRR lab, as a user runs it.

`dmvpn run --suite conformance` in regression mode must exit 0: FRR 8.4 behaves exactly as its
expectations profile (suites/expectations/frr-8.4.yaml) records, for every case, deviations and
crashes included, and no case is left untested. The run is in a shuffled order (verdicts must not
depend on the order; the seed is printed so a failure can be replayed with --shuffle SEED).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dmvpn.conformance import all_cases
from dmvpn.conformance.profile import load_profile

ROOT = Path(__file__).resolve().parents[2]
DUT_VERDICTS = {"conforms", "deviates", "known-deviation", "crashes"}
SEED = "20261201"

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def run(tmp_path_factory, lab_available):
    reports = tmp_path_factory.mktemp("reports")
    proc = subprocess.run(
        [sys.executable, "-m", "dmvpn.cli", "run", "--suite", "conformance", "--reports", str(reports), "--shuffle", SEED],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
    )
    run_dir = (reports / "latest").resolve()
    return proc, run_dir, pd.read_csv(run_dir / "conformance.csv")


def test_frr_behaves_as_recorded_in_every_case(run) -> None:
    proc, run_dir, frame = run
    unexpected = frame[frame["as_recorded"] == False]  # noqa: E712
    assert unexpected.empty, (
        f"not as recorded (--shuffle {SEED}):\n{unexpected[['case_id', 'verdict', 'detail']].to_string()}\n{proc.stdout[-3000:]}"
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_every_case_has_a_dut_verdict_and_evidence(run) -> None:
    proc, run_dir, frame = run
    assert set(frame["case_id"]) == set(all_cases())
    untested = frame[frame["verdict"].isin(["inconclusive", "error"])]
    assert untested.empty, untested[["case_id", "verdict", "detail"]].to_string()
    applicable = frame[frame["verdict"] != "not-applicable"]
    assert set(applicable["verdict"]) <= DUT_VERDICTS
    assert len(applicable) >= 100
    missing = [row.case_id for row in applicable.itertuples() if not (isinstance(row.pcap, str) and Path(row.pcap).exists())]
    assert not missing, f"cases without a pcap: {missing}"
    for name in ("conformance.parquet", "junit.xml", "report.html"):
        assert (run_dir / name).exists(), name


def test_every_crash_has_a_signature_a_reproducer_and_its_rate(run) -> None:
    _, run_dir, frame = run
    crashes = frame[frame["verdict"] == "crashes"]
    for row in crashes.itertuples():
        assert str(row.signature).startswith("SIG"), row.signature
        assert Path(row.reproducer).exists(), row.case_id
        assert str(row.reproduced).startswith("crashed "), row.reproduced
        log = (run_dir / "evidence" / f"{row.case_id}.dut.log").read_text()
        assert "Received signal" in log


def test_frr_84_findings_are_found_not_written_in(run) -> None:
    """The FRR 8.4 behaviours the lab recipe records come out of the run, classified by the RFC."""
    _, _, frame = run
    verdict = dict(zip(frame["case_id"], frame["verdict"]))
    assert verdict["REG-07"] == "known-deviation"  # unique conflict accepted, no code 14
    assert verdict["REG-18"] == "known-deviation"  # unknown compulsory extension echoed, no Error Indication 1
    assert verdict["HDR-01"] == "conforms"  # a bad checksum dropped silently: the RFC allows it
    for case_id in ("REG-14", "REG-15", "REG-16", "REG-17"):
        assert verdict[case_id] == "not-applicable"  # FRR 8.4 has no NHRP authentication


def test_the_profile_holds_behaviour_only() -> None:
    """Every entry names the runs it was seen in; none is a failed precondition or a dead DUT
    (load_profile refuses those words)."""
    profile = load_profile(ROOT / "suites" / "expectations" / "frr-8.4.yaml")
    assert profile.deviations
    for entry in profile.deviations.values():
        assert entry.seen_in, f"{entry.case_id}: no run named"
