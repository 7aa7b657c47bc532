"""Every crash the FRR 8.4 profile records reproduces as recorded: `dmvpn replay` of the case's
reproducer (tests/data/reproducers/frr-8.4/, cut from a conformance run) crashes freshly booted
FRR 8.4 nhrpd 3 times out of 3, with the recorded signature."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dmvpn.conformance.profile import load_profile

ROOT = Path(__file__).resolve().parents[2]
REPRODUCERS = ROOT / "tests" / "data" / "reproducers" / "frr-8.4"
PROFILE = load_profile(ROOT / "suites" / "expectations" / "frr-8.4.yaml")
CRASHES = sorted(cid for cid, d in PROFILE.deviations.items() if any(o.startswith("crashes: ") for o in d.observed))

pytestmark = pytest.mark.lab


def test_every_recorded_crash_has_a_reproducer() -> None:
    assert CRASHES, "the profile records no crash"
    missing = [cid for cid in CRASHES if not (REPRODUCERS / f"{cid}.reproducer.pcap").exists()]
    assert not missing, f"recorded crashes without a reproducer: {missing}"


@pytest.mark.parametrize("case_id", CRASHES)
def test_the_reproducer_crashes_fresh_frr_every_time(case_id: str, lab_available) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dmvpn.cli", "replay", str(REPRODUCERS / f"{case_id}.reproducer.pcap"), "--times", "3", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    summary = lines[-1]
    recorded = {o.removeprefix("crashes: ") for o in PROFILE.deviation(case_id).observed}
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (summary["crashed"], summary["tries"]) == (3, 3), summary
    assert set(summary["signatures"]) <= recorded, (summary["signatures"], recorded)
