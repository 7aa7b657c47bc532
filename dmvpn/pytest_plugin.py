"""pytest entry point of the conformance suites: options, the DUT, evidence, verdicts, reports.

`pytest suites/conformance` runs the cases against the embedded lab; `--testbed FILE` against
external gear. Each case function is called by this plugin with a `CaseContext`, under the run
policy of `dmvpn.conformance.runner` (health after every case, crashes as findings, inconclusive
cases retried once); the verdict decides the pytest outcome through `dmvpn.conformance.outcome`:

  regression mode (default): passed when the DUT behaves as its expectations profile records
      (conforms, or deviates exactly as recorded: shown as xfail), failed otherwise, including a
      recorded deviation that is gone;
  certify mode: failed for every deviation, recorded or not;
  either mode: a case that could not test (inconclusive, or a harness error) fails, with the
      reason; a case that does not apply is skipped with the reason.

`--shuffle SEED` runs the cases in an order drawn from SEED (verdicts must not depend on order).
Results land in reports/<run id>/.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from dmvpn.conformance.case import CaseInfo
from dmvpn.conformance.outcome import Outcome, outcome
from dmvpn.conformance.profile import ExpectationsProfile, load_profile
from dmvpn.conformance.runner import CaseRunner

EXPECTATIONS = Path(__file__).resolve().parent.parent / "suites" / "expectations"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dmvpn conformance")
    group.addoption("--dut", default="lab", help="lab (embedded FRR, default), inprocess (the fake NHS) or inprocess-spoke")
    group.addoption("--dut-faults", default="", help="with --dut inprocess: comma-separated FakeNHS faults")
    group.addoption("--testbed", default=None, help="YAML testbed file describing an external DUT")
    group.addoption("--implementation", default=None, metavar="NAME",
                    help="with --dut lab: which embedded implementation the lab boots (frr-8.4, the default, or frr-10.3)")
    group.addoption("--mode", choices=("regression", "certify"), default="regression")
    group.addoption("--profile", default=None, help="expectations profile (default: by the DUT's implementation)")
    group.addoption("--reports", default=None, help="where runs land (default: reports/)")
    group.addoption("--run-dir", default=None, help="write this run's results into this exact directory")
    group.addoption("--no-report", action="store_true", help="write the results only; the caller renders report.html (dmvpn run)")
    group.addoption("--progress", action="store_true", help="print one line per case with its verdict")
    group.addoption("--shuffle", default=None, metavar="SEED",
                    help="run the conformance cases in an order drawn from SEED (an integer, or 'random')")
    group.addoption("--reproduce", type=int, default=3, metavar="N",
                    help="replay a crashing case's packets on N freshly booted DUTs (default 3; 0: do not)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dmvpn_case(info): a conformance case (set by @case)")
    config._dmvpn_results = []  # type: ignore[attr-defined]
    testbed = config.getoption("--testbed", None)
    if testbed:
        # Refuse a bad testbed file before anything runs, let alone sends.
        from dmvpn.dut.testbed import TestbedError, load
        from dmvpn.dut.testbed.check import resolve

        try:
            resolve(load(testbed))  # the file, the namespace, the interface, the route to the DUT
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
        self.results = config._dmvpn_results  # type: ignore[attr-defined]
        self.runner = CaseRunner(
            self.duts.link, self.evidence, self.profile, reproduce=config.getoption("--reproduce"),
            progress=lambda message: _say(config, f"   {message}") if config.getoption("--progress") else None,
        )

    def profile(self, implementation: str) -> ExpectationsProfile | None:
        if implementation not in self._profiles:
            self._profiles[implementation] = find_profile(self.config, implementation)
        return self._profiles[implementation]

    def close(self) -> None:
        from dmvpn.results import write_conformance
        from dmvpn.results.report import render_report

        try:
            primary = self.duts.primary.info
            mode = self.config.getoption("--mode")
            rows = (dict(r.row(), outcome=outcome(r.verdict, r.as_recorded, mode).value, mode=mode) for r in self.results)
            frame = write_conformance(rows, self.run_dir, primary.name, primary.implementation)
            if not self.config.getoption("--no-report"):
                render_report(self.run_dir)
            counts = frame["verdict"].value_counts().to_dict() if len(frame) else {}
            self.config._dmvpn_summary = (self.run_dir, counts)  # type: ignore[attr-defined]
        finally:
            self.duts.close()


def make_duts(config: pytest.Config):
    from dmvpn.dut.select import open_duts

    try:
        return open_duts(config.getoption("--dut"), config.getoption("--dut-faults").split(","), config.getoption("--testbed"),
                         progress=lambda message: _say(config, f"   lab: {message}"),
                         implementation=config.getoption("--implementation"))
    except ValueError as exc:
        raise pytest.UsageError(f"--dut: {exc}") from None


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


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    seed = config.getoption("--shuffle")
    if seed is None:
        return
    if seed == "random":
        seed = str(random.SystemRandom().randrange(2**32))
    try:
        number = int(seed)
    except ValueError:
        raise pytest.UsageError(f"--shuffle takes an integer seed or 'random', not {seed!r}") from None
    config._dmvpn_shuffle = number  # type: ignore[attr-defined]
    cases = [i for i, item in enumerate(items) if _case_info(item) is not None]
    order = [items[i] for i in cases]
    random.Random(number).shuffle(order)
    for i, item in zip(cases, order):
        items[i] = item


def pytest_report_header(config: pytest.Config) -> str | None:
    seed = getattr(config, "_dmvpn_shuffle", None)
    return f"dmvpn: conformance cases shuffled with --shuffle {seed}" if seed is not None else None


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
    result = session.runner.run(pyfuncitem.obj, info, session.duts.for_role(info.role))
    session.results.append(result)
    config = pyfuncitem.config
    mode = config.getoption("--mode")
    decided = outcome(result.verdict, result.as_recorded, mode)
    if config.getoption("--progress"):
        total = getattr(config, "_dmvpn_total", 0)
        mark = {Outcome.FAIL: "   <- not as recorded" if mode == "regression" else "   <- deviates",
                Outcome.INCOMPLETE: "   <- could not test"}.get(decided, "")
        _say(config, f"   [{len(session.results):3d}/{total}] {info.case_id:<8} {result.verdict.value:<16} {info.clause}{mark}")
    header = f"{info.case_id} [{info.clause}, {info.level}]: {result.verdict.value}: {result.detail}"
    if result.notes:
        header += "\n" + "\n".join(f"  note: {n}" for n in result.notes)
    if result.dut_log:
        header += f"\n--- DUT log during the case (tail) ---\n{result.dut_log[-4000:]}"
    if decided is Outcome.SKIP:
        pytest.skip(f"{info.case_id}: not applicable: {result.detail}")
    if decided is Outcome.INCOMPLETE:
        pytest.fail(f"could not test: {header}", pytrace=False)
    if decided is Outcome.FAIL:
        pytest.fail(header, pytrace=False)
    if decided is Outcome.XFAIL:
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
