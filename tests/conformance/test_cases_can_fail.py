"""Every conformance case is shown able to fail: against deliberately wrong in-process hubs it
reports a deviation, against the well-behaved one it reports conformance.

The cases of registration.py and header.py; the other groups have their own self-tests
(test_hub_groups_can_fail.py, test_esp_cases_can_fail.py).
"""

from __future__ import annotations

import pytest

from dmvpn.conformance import Verdict
from dmvpn.dut import InProcessDut

from .selftest import case_functions, group_modules, hub_cases, run, expected_verdict

MODULES = group_modules(["registration", "header"])
FUNCTIONS = case_functions(MODULES)

#: For each case, the faults of the in-process hub that must make it report a deviation.
BREAKERS: dict[str, list[str]] = {
    "REG-01": ["silent", "wrong-reqid", "bad-checksum", "wrong-type", "no-responder-address", "drop-extensions"],
    "REG-02": ["silent", "wrong-reqid"],
    "REG-03": ["wrong-reqid"],
    "REG-04": ["silent", "bad-checksum"],
    "REG-07": ["accept-unique-conflict"],
    "REG-08": ["unique-always"],
    "REG-09": ["ignore-uniqueness-prefix", "silent"],
    "REG-11": ["first-cie-only"],
    "REG-18": ["echo-unknown-compulsory"],
    "REG-19": ["drop-extensions"],
    "REG-20": ["drop-extensions"],
    "REG-25": ["error-on-error"],
    "HDR-01": ["ignore-checksum", "crash-on-malformed"],
    "HDR-02": ["silent"],
    "HDR-03": ["no-header-checks", "answer-anything", "crash-on-malformed"],
    "HDR-04": ["answer-anything", "crash-on-malformed"],
    "HDR-05": ["no-header-checks", "answer-anything", "crash-on-malformed"],
    "HDR-06": ["no-header-checks", "answer-anything", "crash-on-malformed"],
    "HDR-07": ["silent"],
    "HDR-08": ["answer-anything", "crash-on-malformed"],
    "HDR-09": ["answer-anything", "crash-on-malformed"],
    "HDR-10": ["silent"],
    "HDR-11": ["answer-anything", "crash-on-malformed"],
    "HDR-12": ["answer-anything", "crash-on-malformed"],
    "HDR-13": ["crash-on-malformed"],
    "HDR-14": ["answer-anything", "crash-on-malformed"],
    "HDR-15": ["answer-anything", "crash-on-malformed"],
    "HDR-16": ["answer-anything", "crash-on-malformed"],
    "HDR-17": ["answer-anything", "crash-on-malformed"],
    "HDR-18": ["answer-anything", "crash-on-malformed"],
    "HDR-19": ["answer-anything", "crash-on-malformed"],
    "HDR-20": ["silent"],
    "REG-12": ["accept-empty-registration"],
}

HUB_CASES = hub_cases(FUNCTIONS)


def _run(case_id: str, faults: set[str]):
    return run(FUNCTIONS[case_id], case_id, InProcessDut(faults))


def test_every_hub_case_has_a_breaker() -> None:
    missing = [cid for cid in HUB_CASES if not BREAKERS.get(cid)]
    assert not missing, f"cases never shown able to fail: {missing}"


@pytest.mark.parametrize("case_id", HUB_CASES)
def test_conforms_against_the_well_behaved_hub(case_id: str) -> None:
    result = _run(case_id, set())
    assert result.verdict is Verdict.CONFORMS, result.detail


@pytest.mark.parametrize(
    "case_id,fault", [(cid, fault) for cid in HUB_CASES for fault in BREAKERS.get(cid, [])]
)
def test_deviates_against_a_wrong_hub(case_id: str, fault: str) -> None:
    result = _run(case_id, {fault})
    assert result.verdict is expected_verdict(fault), f"{case_id} with {fault}: {result.verdict.value}: {result.detail}"
