"""A case whose set-up fails (no registration acknowledged, no Registration Request, no Resolution
Request after a Traffic Indication) records that once and ends: the set-up helpers stop it
(`ctx.stop()`), the case checks nothing. What it records is pinned word for word in
`fixtures/observations.json` (see `observations.py`), as `test_cases_can_fail` pins the rest."""

from __future__ import annotations

import pytest

from dmvpn.conformance import Verdict

from . import observations
from .selftest import run
from .test_cases_can_fail import CASES, FUNCTIONS, dut, kind

SETUP = [(cid, name) for cid in CASES for name in observations.SETUP_FAILURES[kind(cid)]]


@pytest.mark.parametrize("case_id,setup", SETUP)
def test_a_failed_setup_is_recorded_once(case_id: str, setup: str, monkeypatch) -> None:
    faults, no_request = observations.SETUP_FAILURES[kind(case_id)][setup]
    if no_request:
        observations.no_registration_request(monkeypatch)
    result = run(FUNCTIONS[case_id], case_id, dut(case_id, faults))
    assert result.verdict is not Verdict.ERROR, f"{case_id} with {setup}: {result.detail}"
    observations.check(result, f"{case_id}|{setup}")


def test_the_fixture_has_no_stale_entries() -> None:
    from dmvpn.conformance import all_cases
    from dmvpn.dut.capability import Capability

    keys = set()
    for cid in CASES:
        info = all_cases()[cid]
        keys |= {f"{cid}|well"} | {f"{cid}|fault:{f}" for f in info.breakers} | {f"{cid}|{s}" for s in observations.SETUP_FAILURES[kind(cid)]}
        if kind(cid) == "hub":
            keys.add(f"{cid}|forwarding")
            if Capability.AUTHENTICATION not in info.requires:
                keys.add(f"{cid}|password")
    assert set(observations.load()) == keys
