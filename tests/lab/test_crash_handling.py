"""A DUT that dies in the middle of a run, against the embedded FRR lab.

nhrpd is killed (SIGSEGV, so that FRR's crash handler logs a backtrace as for a real crash) during
one case of a real conformance run of the registration group. The run policy must attribute the
crash to that case, with the log lines written during it and the packets it sent as a reproducer;
must not give that case or any other a `conforms`/`known-deviation` while nhrpd was dead; and must
recover the DUT so that every later case has its usual verdict.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dmvpn.conformance.context import CaseContext

ROOT = Path(__file__).resolve().parents[2]
KILLED_IN = "REG-03"

pytestmark = pytest.mark.lab


class KillDuring:
    """A pytest plugin: during case `case_id`, right after its first exchange, nhrpd on the hub gets SIGSEGV."""

    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
        self.killed_pid = None
        self._original = CaseContext.exchange

    def pytest_runtest_setup(self, item) -> None:
        marker = item.get_closest_marker("dmvpn_case")
        if marker is None or marker.args[0].case_id != self.case_id:
            return
        plugin, original = self, self._original

        def exchange(ctx, *args, **kwargs):
            result = original(ctx, *args, **kwargs)
            if plugin.killed_pid is None:
                lab = ctx.dut.lab
                pid = lab.exec(ctx.dut.node, "cat /run/frr/nhrpd.pid").stdout.strip()
                lab.exec(ctx.dut.node, f"kill -SEGV {pid}").check("kill nhrpd")
                plugin.killed_pid = pid
            return result

        CaseContext.exchange = exchange

    def pytest_runtest_teardown(self, item) -> None:
        CaseContext.exchange = self._original


def test_a_crash_in_mid_run_is_the_finding_of_its_case_and_the_run_recovers(tmp_path, lab_available) -> None:
    run_dir = tmp_path / "run"
    killer = KillDuring(KILLED_IN)
    code = pytest.main(
        [str(ROOT / "suites" / "conformance" / "registration.py"), "-o", "addopts=", "-p", "no:cacheprovider", "-q",
         "--run-dir", str(run_dir), "--reproduce", "1"],
        plugins=[killer],
    )
    assert killer.killed_pid is not None, "the kill never happened"
    frame = pd.read_csv(run_dir / "conformance.csv")
    rows = {row.case_id: row for row in frame.itertuples()}
    crashed = rows[KILLED_IN]
    assert crashed.verdict == "crashes", crashed.detail
    assert crashed.signature.startswith("SIGSEGV in "), crashed.signature
    # the DUT's log during the case only: the crash, not the whole run's log
    log = (run_dir / "evidence" / f"{KILLED_IN}.dut.log").read_text()
    assert "Received signal 11" in log
    # no other case's log holds the crash (each holds only what was logged during that case)
    others = [p.name for p in (run_dir / "evidence").glob("*.dut.log")
              if p.name != f"{KILLED_IN}.dut.log" and "Received signal 11" in p.read_text()]
    assert not others, others
    assert Path(crashed.reproducer).exists()
    # a kill is not in the packets: replaying them on a fresh DUT does not crash it, and the report says so
    assert crashed.reproduced == "crashed 0/1 fresh DUTs", crashed.reproduced
    assert "rebooted the lab" in crashed.notes
    # every other case ran on a live DUT and has its usual verdict (as the profile records)
    others = frame[frame["case_id"] != KILLED_IN]
    assert len(others) >= 20
    assert set(others["verdict"]) <= {"conforms", "known-deviation", "not-applicable"}, others[["case_id", "verdict", "detail"]].to_string()
    assert others["as_recorded"].all(), others[~others["as_recorded"]][["case_id", "verdict", "detail"]].to_string()
    assert not others["notes"].fillna("").str.contains("DUT down").any()
    assert code == 1  # the crash is not in the profile: a regression run fails on it
