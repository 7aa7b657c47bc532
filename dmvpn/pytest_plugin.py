"""pytest entry point of the conformance suites: options, the DUT, evidence, verdicts, reports.

`pytest suites/conformance` runs the cases against the embedded lab; `--testbed FILE` against
external gear. Each case function is called by this plugin with a `CaseContext`; the verdict
decides the pytest outcome:

  regression mode (default): passed when the DUT behaves as its expectations profile records
      (conforms, or deviates exactly as recorded: shown as xfail), failed otherwise, including a
      recorded deviation that is gone;
  certify mode: failed for every deviation, recorded or not.

Not-applicable cases are skipped with the reason. Results land in reports/<run id>/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dmvpn.conformance.case import CaseInfo
from dmvpn.conformance.profile import ExpectationsProfile, load_profile
from dmvpn.conformance.runner import CaseResult, run_case
from dmvpn.conformance.verdict import Verdict

EXPECTATIONS = Path(__file__).resolve().parent.parent / "suites" / "expectations"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dmvpn conformance")
    group.addoption("--dut", default="lab", help="lab (embedded FRR, default) or inprocess (the fake NHS)")
    group.addoption("--dut-faults", default="", help="with --dut inprocess: comma-separated FakeNHS faults")
    group.addoption("--testbed", default=None, help="YAML testbed file describing an external DUT")
    group.addoption("--mode", choices=("regression", "certify"), default="regression")
    group.addoption("--profile", default=None, help="expectations profile (default: by the DUT's implementation)")
    group.addoption("--reports", default=None, help="where runs land (default: reports/)")
    group.addoption("--run-dir", default=None, help="write this run's results into this exact directory")
    group.addoption("--progress", action="store_true", help="print one line per case with its verdict")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dmvpn_case(info): a conformance case (set by @case)")
    config._dmvpn_results = []  # type: ignore[attr-defined]
    testbed = config.getoption("--testbed", None)
    if testbed:
        # Refuse a bad testbed file before anything runs, let alone sends.
        from dmvpn.dut.testbed import TestbedDut, TestbedError

        try:
            TestbedDut.from_file(testbed)
        except TestbedError as exc:
            raise pytest.UsageError(str(exc)) from None


class _Session:
    """What the session-scoped fixtures share."""

    def __init__(self, config: pytest.Config) -> None:
        from dmvpn.results import new_run_dir

        self.config = config
        self.duts = make_duts(config)
        reports, run_dir = config.getoption("--reports"), config.getoption("--run-dir")
        if run_dir:
            self.run_dir = Path(run_dir)
            self.run_dir.mkdir(parents=True, exist_ok=True)
        else:
            self.run_dir = new_run_dir(Path(reports) if reports else None, label="conformance")
        self.evidence = self.run_dir / "evidence"
        self.evidence.mkdir(exist_ok=True)
        self._profiles: dict[str, ExpectationsProfile | None] = {}
        self.results: list[CaseResult] = config._dmvpn_results  # type: ignore[attr-defined]

    def profile(self, implementation: str) -> ExpectationsProfile | None:
        if implementation not in self._profiles:
            self._profiles[implementation] = find_profile(self.config, implementation)
        return self._profiles[implementation]

    def close(self) -> None:
        from dmvpn.results import write_conformance
        from dmvpn.results.report import render_report

        try:
            primary = self.duts.primary.info
            frame = write_conformance((r.row() for r in self.results), self.run_dir, primary.name, primary.implementation)
            render_report(self.run_dir)
            counts = frame["verdict"].value_counts().to_dict() if len(frame) else {}
            self.config._dmvpn_summary = (self.run_dir, counts)  # type: ignore[attr-defined]
        finally:
            self.duts.close()


def make_duts(config: pytest.Config):
    from dmvpn.dut import DutSet

    testbed = config.getoption("--testbed")
    if testbed:
        from dmvpn.dut.testbed import TestbedDut

        dut = TestbedDut.from_file(testbed)
        return DutSet({dut.info.role: dut})
    kind = config.getoption("--dut")
    if kind == "inprocess":
        from dmvpn.dut import InProcessDut

        faults = {f for f in config.getoption("--dut-faults").split(",") if f}
        return DutSet({"hub": InProcessDut(faults)})
    if kind == "lab":
        from dmvpn.dut.lab import boot_lab_duts

        return boot_lab_duts(progress=lambda message: _say(config, f"   lab: {message}"))
    raise pytest.UsageError(f"--dut must be lab or inprocess, not {kind!r}")


def find_profile(config: pytest.Config, implementation: str) -> ExpectationsProfile | None:
    path = config.getoption("--profile")
    if path:
        return load_profile(path)
    candidate = EXPECTATIONS / f"{implementation}.yaml"
    return load_profile(candidate) if candidate.exists() else None


@pytest.fixture(scope="session")
def dmvpn_session(request: pytest.FixtureRequest):
    session = _Session(request.config)
    yield session
    session.close()


@pytest.fixture
def ctx(dmvpn_session):
    """Placeholder: the plugin calls each case with its own CaseContext."""
    return None


def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    config._dmvpn_total = sum(1 for item in session.items if _case_info(item) is not None)  # type: ignore[attr-defined]
    if config.getoption("--progress"):
        print(f"   {config._dmvpn_total} cases", flush=True)  # type: ignore[attr-defined]


def _say(config: pytest.Config, line: str) -> None:
    """Print past pytest's output capture (progress must show while the case runs)."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(line, flush=True)
        return
    with capture.global_and_fixture_disabled():
        print(line, flush=True)


def pytest_collectreport(report) -> None:
    if report.failed:
        text = report.longreprtext.strip().splitlines()
        print(f"   cannot collect {report.nodeid}: {text[-1] if text else 'error'}", flush=True)


def _case_info(item: pytest.Item) -> CaseInfo | None:
    marker = item.get_closest_marker("dmvpn_case")
    return marker.args[0] if marker else None


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function):
    info = _case_info(pyfuncitem)
    if info is None:
        return None
    session: _Session = pyfuncitem.funcargs["dmvpn_session"]
    dut = session.duts.for_role(info.role)
    if dut is None:
        result = CaseResult(info, Verdict.NOT_APPLICABLE, f"no DUT plays the {info.role} role in this run", True, None)
    else:
        result = run_case(pyfuncitem.obj, info, dut, session.duts.link(dut), session.evidence, session.profile(dut.info.implementation))
    session.results.append(result)
    config = pyfuncitem.config
    if config.getoption("--progress"):
        total = getattr(config, "_dmvpn_total", 0)
        mark = "" if result.as_recorded else "   <- not as recorded"
        _say(config, f"   [{len(session.results):3d}/{total}] {info.case_id:<8} {result.verdict.value:<16} {info.clause}{mark}")
    mode = config.getoption("--mode")
    header = f"{info.case_id} [{info.clause}, {info.level}]: {result.verdict.value}: {result.detail}"
    if result.dut_log:
        header += f"\n--- DUT log (tail) ---\n{result.dut_log[-4000:]}"
    if result.verdict is Verdict.NOT_APPLICABLE:
        pytest.skip(f"{info.case_id}: not applicable: {result.detail}")
    if result.verdict is Verdict.ERROR:
        pytest.fail(header, pytrace=False)
    if mode == "certify":
        if result.verdict in (Verdict.DEVIATES, Verdict.KNOWN_DEVIATION):
            pytest.fail(header, pytrace=False)
        return True
    if not result.as_recorded:
        pytest.fail(header, pytrace=False)
    if result.verdict is Verdict.KNOWN_DEVIATION:
        pytest.xfail(header)
    return True


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    summary = getattr(config, "_dmvpn_summary", None)
    if summary is None:
        return
    run_dir, counts = summary
    text = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    terminalreporter.write_sep("-", "dmvpn conformance")
    terminalreporter.write_line(f"verdicts: {text or 'none'}")
    terminalreporter.write_line(f"report: {run_dir / 'report.html'}")
