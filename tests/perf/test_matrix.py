"""The differential view: one report over runs of two implementations marks every case whose
verdict differs, with both sides' evidence one click away; `dmvpn report compare` says the same
and exits 1 when a case regressed."""

from __future__ import annotations

from pathlib import Path

from dmvpn.cli import main
from dmvpn.results.conformance import write_conformance
from dmvpn.results.report import render_report


def _run(path: Path, implementation: str, verdicts: dict[str, tuple[str, str]]) -> Path:
    path.mkdir(parents=True)
    (path / "evidence").mkdir()
    rows = []
    for case_id, (verdict, observed) in verdicts.items():
        pcap = path / "evidence" / f"{case_id}.pcap"
        pcap.write_bytes(b"")
        rows.append({"case_id": case_id, "group": case_id.split("-")[0].lower(), "clause": "RFC 2332", "level": "MUST",
                     "role": "hub", "verdict": verdict, "detail": observed, "pcap": str(pcap), "observed": observed,
                     "outcome": "pass", "as_recorded": True})
    write_conformance(rows, path, f"FRR {implementation} hub", implementation)
    return path


def test_the_report_marks_the_cases_that_differ_with_both_sides_evidence(tmp_path) -> None:
    top = tmp_path / "run"
    a = _run(top / "frr-8.4", "frr-8.4", {"REG-01": ("conforms", ""), "REG-14": ("not-applicable", ""),
                                            "HDR-18": ("crashes", "crashes: SIGSEGV in x"), "REG-07": ("known-deviation", "codes [0]")})
    b = _run(top / "frr-10.3", "frr-10.3", {"REG-01": ("conforms", ""), "REG-14": ("conforms", ""),
                                              "HDR-18": ("conforms", ""), "REG-07": ("deviates", "codes [0]")})
    page = render_report(top, [a, b]).read_text()
    assert "<h2>Cases by implementation</h2><p>2 of 4 cases differ" in page
    assert "<th>frr-8.4</th><th>frr-10.3</th>" in page
    for case_id in ("HDR-18", "REG-14"):
        assert f"<tr class='differs'><td>&#9888; {case_id}</td>" in page
        assert f"href='frr-8.4/evidence/{case_id}.pcap'" in page and f"href='frr-10.3/evidence/{case_id}.pcap'" in page
    # the same deviation, recorded on one side only, is the same behaviour
    assert "<tr class=''><td>REG-07</td>" in page
    assert "<tr class=''><td>REG-01</td>" in page


def test_report_compare_exits_1_on_a_regression_and_writes_the_matrix(tmp_path, capsys) -> None:
    a = _run(tmp_path / "a", "frr-8.4", {"REG-01": ("conforms", ""), "REG-02": ("conforms", "")})
    b = _run(tmp_path / "b", "frr-8.4", {"REG-01": ("conforms", ""), "REG-02": ("deviates", "no reply")})
    assert main(["report", "compare", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION REG-02: conforms -> deviates (no reply)" in out
    page = (b / "compare-a.html").read_text()
    assert "&#9888; REG-02" in page and "frr-8.4 (a)" in page and "frr-8.4 (b)" in page
    assert main(["report", "compare", str(a), str(a)]) == 0
