"""One outcome policy: in a regression run where a recorded deviation disappears, pytest, junit.xml,
the report and `dmvpn run`'s exit status all say the same thing (and likewise for a run where the
DUT behaves exactly as recorded)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd

from dmvpn.conformance.outcome import EXIT_FAILED, EXIT_OK, Outcome, outcome
from dmvpn.conformance.verdict import Verdict
from dmvpn.results.report import render_report
from dmvpn.run import run_conformance


def _run(tmp_path: Path, profile_text: str) -> tuple[int, Path]:
    profile = tmp_path / "profile.yaml"
    profile.write_text(profile_text)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    status = run_conformance(run_dir, None, "regression", reproduce=0,
                             extra=["--dut", "inprocess", "--profile", str(profile), "-k", "registration"])
    render_report(run_dir)
    return status, run_dir


def _junit(run_dir: Path) -> dict[str, str]:
    kinds = {}
    for case in ET.parse(run_dir / "junit.xml").getroot():
        child = next(iter(case), None)
        kinds[case.get("name").split()[0]] = "pass" if child is None else child.tag
    return kinds


def test_a_recorded_deviation_that_is_gone_fails_everywhere(tmp_path) -> None:
    status, run_dir = _run(tmp_path, "implementation: in-process\ndeviations:\n  REG-01:\n    observed: no reply\n    seen_in: [x]\n")
    frame = pd.read_csv(run_dir / "conformance.csv").set_index("case_id")
    assert frame.loc["REG-01", "verdict"] == "conforms"
    assert frame.loc["REG-01", "outcome"] == "fail"  # what pytest reported (the plugin wrote it)
    assert status == EXIT_FAILED
    assert _junit(run_dir)["REG-01"] == "failure"
    page = (run_dir / "report.html").read_text()
    assert "FAILED: 1 case(s) not as the profile records" in page
    assert "<tr class='conforms'><td>REG-01</td><td>conforms</td><td>conforms; the profile&#x27;s known deviation" in page
    others = frame.drop(index="REG-01")
    assert set(others["outcome"]) <= {"pass", "skip"}
    assert {k for k, v in _junit(run_dir).items() if v == "failure"} == {"REG-01"}


def test_a_dut_as_recorded_passes_everywhere(tmp_path) -> None:
    status, run_dir = _run(tmp_path, "implementation: in-process\ndeviations: {}\n")
    frame = pd.read_csv(run_dir / "conformance.csv")
    assert status == EXIT_OK
    assert set(frame["outcome"]) <= {"pass", "skip"}
    assert "failure" not in _junit(run_dir).values() and "error" not in _junit(run_dir).values()
    assert "passed: the DUT behaved as its profile records" in (run_dir / "report.html").read_text()


def test_the_outcome_table() -> None:
    assert outcome(Verdict.KNOWN_DEVIATION, True) is Outcome.XFAIL
    assert outcome(Verdict.KNOWN_DEVIATION, True, "certify") is Outcome.FAIL
    assert outcome(Verdict.CRASHES, False) is Outcome.FAIL
    assert outcome(Verdict.CONFORMS, False) is Outcome.FAIL  # a recorded deviation is gone
    assert outcome(Verdict.INCONCLUSIVE, False, "certify") is Outcome.INCOMPLETE
    assert outcome(Verdict.NOT_APPLICABLE, True) is Outcome.SKIP
