"""Every DUT-NHC (spoke) case is shown able to fail: against deliberately wrong in-process spokes it
reports a deviation, against the well-behaved one it reports conformance."""

from __future__ import annotations

import pytest

from dmvpn.conformance import Verdict, all_cases
from dmvpn.dut.inprocess import SPOKE_FAULTS, InProcessSpokeDut

from .selftest import case_functions, group_modules, run, expected_verdict

MODULES = group_modules(["nhc_registration", "nhc_resolution", "nhc_shortcut"])
FUNCTIONS = case_functions(MODULES)
HUB_FUNCTIONS = case_functions(group_modules(["registration"]))

#: For each spoke case, the faults of the in-process spoke that must make it report a deviation.
BREAKERS: dict[str, list[str]] = {
    "NHC-01": ["reg-dst-zero", "bad-checksum"],
    "NHC-02": ["unique-prefix-32", "zero-holding-time"],
    "NHC-03": ["no-end-extension"],
    "NHC-04": ["new-reqid-on-retransmit", "no-retransmit"],
    "NHC-05": ["no-refresh"],
    "NHC-06": ["reply-via-nhs"],
    "NHC-07": ["ignore-holding-time"],
    "RES-08": ["no-responder-address", "bad-checksum"],
    "RES-10": ["cache-without-s"],
    "RES-11": ["no-error-10", "cache-unsolicited"],
    "RES-12": ["new-reqid-on-retransmit", "no-retransmit"],
    "RES-13": ["shortcut-from-nak"],
    "RES-14": ["prefix-0-as-default"],
    "RES-15": ["ignore-nat-ext"],
    "RES-16": ["retry-after-error-6"],
    "P3-05": ["ignore-ti"],
    "P3-06": ["data-via-nhs", "ignore-ti"],
    "P3-08": ["resolve-garbage-ti", "crash-on-malformed"],
    "P3-09": ["ti-extensions-dropped"],
    "P3-10": ["no-renewal"],
    "P3-11": ["mute-after-shortcut"],
    "PUR-04": ["ignore-purge"],
}

SPOKE_CASES = sorted(cid for cid, info in all_cases().items() if cid in FUNCTIONS and info.role == "spoke")


def _run(case_id: str, faults: set[str]):
    return run(FUNCTIONS[case_id], case_id, InProcessSpokeDut(faults))


def test_every_spoke_case_has_a_breaker() -> None:
    missing = [cid for cid in SPOKE_CASES if not BREAKERS.get(cid)]
    assert not missing, f"cases never shown able to fail: {missing}"


def test_every_fault_breaks_a_case() -> None:
    used = {fault for faults in BREAKERS.values() for fault in faults}
    assert used <= SPOKE_FAULTS, f"unknown faults: {sorted(used - SPOKE_FAULTS)}"
    assert not SPOKE_FAULTS - used, f"faults no case catches: {sorted(SPOKE_FAULTS - used)}"


@pytest.mark.parametrize("case_id", SPOKE_CASES)
def test_conforms_against_the_well_behaved_spoke(case_id: str) -> None:
    result = _run(case_id, set())
    assert result.verdict is Verdict.CONFORMS, result.detail + " | " + " | ".join(result.notes)


@pytest.mark.parametrize("case_id,fault", [(cid, fault) for cid in SPOKE_CASES for fault in BREAKERS.get(cid, [])])
def test_deviates_against_a_wrong_spoke(case_id: str, fault: str) -> None:
    result = _run(case_id, {fault})
    assert result.verdict is expected_verdict(fault), f"{case_id} with {fault}: {result.verdict.value}: {result.detail}"


def test_hub_cases_do_not_apply_to_a_spoke() -> None:
    case_id, function = next(iter(HUB_FUNCTIONS.items()))
    assert run(function, case_id, InProcessSpokeDut()).verdict is Verdict.NOT_APPLICABLE
