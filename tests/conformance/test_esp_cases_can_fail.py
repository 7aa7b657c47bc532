"""The ESP cases conform against the in-process hub behind ESP, and deviate with each ESP fault."""

from __future__ import annotations

import pytest

import suites.conformance.esp as esp_cases
from dmvpn.conformance import Verdict, all_cases
from dmvpn.conformance.runner import run_case
from dmvpn.dut.inprocess_esp import ESP_FAULTS, InProcessEspDut

from .selftest import expected_verdict

FUNCTIONS = {fn.case_info.case_id: fn for fn in vars(esp_cases).values() if hasattr(fn, "case_info")}

BREAKERS = {
    "ESP-01": ["reply-in-clear", "silent"],
    "ESP-02": ["no-icv-check"],
    "ESP-03": ["no-replay-check"],
    "ESP-04": ["accept-any-spi"],
    "ESP-05": ["accept-any-spi"],
    "ESP-06": ["no-selector-check"],
    "ESP-07": ["no-nat-t", "reply-in-clear"],
    "NAT-06": ["keepalive-is-esp"],
}


def _run(case_id: str, faults: set[str]):
    dut = InProcessEspDut(faults)
    return run_case(FUNCTIONS[case_id], all_cases()[case_id], dut, dut.open_link(), None, None)


def test_every_esp_case_has_a_breaker() -> None:
    assert sorted(FUNCTIONS) == sorted(BREAKERS)
    assert {f for fs in BREAKERS.values() for f in fs} - {"silent"} <= ESP_FAULTS


@pytest.mark.parametrize("case_id", sorted(FUNCTIONS))
def test_conforms_against_the_well_behaved_hub(case_id: str) -> None:
    result = _run(case_id, set())
    assert result.verdict is Verdict.CONFORMS, result.detail


@pytest.mark.parametrize("case_id,fault", [(c, f) for c, fs in sorted(BREAKERS.items()) for f in fs])
def test_deviates_against_a_wrong_hub(case_id: str, fault: str) -> None:
    result = _run(case_id, {fault})
    assert result.verdict is expected_verdict(fault), f"{case_id} with {fault}: {result.verdict.value}: {result.detail}"
