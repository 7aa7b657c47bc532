"""Every conformance case is shown able to fail, from its own `@case(..., breakers=...)` metadata.

The cases are discovered (every clause-group module of suites/conformance, none listed here), and
each one runs against the well-behaved in-process DUT of its role (it must conform) and against
that DUT with each fault its `breakers` name (it must report `expected_verdict(fault)`: `crashes`
for a fault that brings the DUT down, else `deviates`). A hub case also conforms against a hub
that forwards its clients' Resolution Requests (as DMVPN hubs do) and, unless it tests the
authentication itself, against a hub that checks a password. Every fault of the in-process DUTs
breaks some case.
"""

from __future__ import annotations

import pytest

import suites.conformance
from dmvpn.conformance import Verdict, all_cases
from dmvpn.dut import InProcessDut
from dmvpn.dut.capability import Capability
from dmvpn.dut.inprocess import SPOKE_FAULTS, InProcessSpokeDut
from dmvpn.dut.inprocess_esp import ESP_FAULTS, InProcessEspDut
from dmvpn.peers.nhs import FAULTS as HUB_FAULTS

from . import observations
from .selftest import PASSWORD, case_functions, dut_for, expected_verdict, group_modules, run

MODULES = group_modules()
FUNCTIONS = case_functions(MODULES)
CASES = sorted(FUNCTIONS)


def kind(case_id: str) -> str:
    """Which in-process DUT runs the case: "spoke", "esp" (a hub behind ESP) or "hub"."""
    info = all_cases()[case_id]
    if info.role == "spoke":
        return "spoke"
    return "esp" if Capability.ESP in info.requires else "hub"


#: the faults each in-process DUT knows (the hub behind ESP: its own and the hub's)
KNOWN_FAULTS = {"spoke": SPOKE_FAULTS, "esp": ESP_FAULTS | HUB_FAULTS, "hub": HUB_FAULTS}


def dut(case_id: str, faults: frozenset[str] = frozenset(), **kwargs):
    """The in-process DUT of the case's role with these faults and what the case requires."""
    where = kind(case_id)
    if where == "spoke":
        return InProcessSpokeDut(set(faults))
    if where == "esp":
        return InProcessEspDut(set(faults))
    return dut_for(case_id, faults, **kwargs)


def _check(result, want: Verdict, what: str, key: str) -> None:
    """The verdict, and the observations word for word (`observations.py`)."""
    assert result.verdict is want, f"{what}: {result.verdict.value}: {result.detail} | " + " | ".join(result.notes)
    observations.check(result, key)


def test_every_case_is_discovered() -> None:
    """A case cannot exist outside the discovered modules: importing them all registers every case."""
    assert MODULES and len(CASES) >= 100
    assert sorted(all_cases()) == CASES, f"cases outside the discovered modules: {sorted(set(all_cases()) - set(CASES))}"
    assert {fn.__module__ for fn in FUNCTIONS.values()} <= {m.__name__ for m in MODULES}
    assert all(m.__name__.startswith(suites.conformance.__name__ + ".") for m in MODULES)


def test_every_case_has_a_breaker_the_dut_knows() -> None:
    for case_id in CASES:
        breakers = all_cases()[case_id].breakers
        assert breakers, f"{case_id} is never shown able to fail"
        unknown = set(breakers) - KNOWN_FAULTS[kind(case_id)]
        assert not unknown, f"{case_id}: faults the in-process {kind(case_id)} DUT does not know: {sorted(unknown)}"


@pytest.mark.parametrize("where", ["hub", "spoke", "esp"])
def test_every_fault_breaks_a_case(where: str) -> None:
    own = {"hub": HUB_FAULTS, "spoke": SPOKE_FAULTS, "esp": ESP_FAULTS}[where]
    used = {f for cid in CASES if kind(cid) == where for f in all_cases()[cid].breakers}
    assert not own - used, f"faults of the in-process {where} DUT no case catches: {sorted(own - used)}"


@pytest.mark.parametrize("case_id", CASES)
def test_conforms_against_the_well_behaved_dut(case_id: str) -> None:
    _check(run(FUNCTIONS[case_id], case_id, dut(case_id)), Verdict.CONFORMS, case_id, f"{case_id}|well")


@pytest.mark.parametrize("case_id,fault", [(cid, fault) for cid in CASES for fault in all_cases()[cid].breakers])
def test_fails_against_each_declared_fault(case_id: str, fault: str) -> None:
    _check(run(FUNCTIONS[case_id], case_id, dut(case_id, frozenset({fault}))), expected_verdict(fault), f"{case_id} with {fault}", f"{case_id}|fault:{fault}")


HUB_CASES = [cid for cid in CASES if kind(cid) == "hub"]


@pytest.mark.parametrize("case_id", HUB_CASES)
def test_conforms_against_a_forwarding_hub(case_id: str) -> None:
    _check(run(FUNCTIONS[case_id], case_id, dut(case_id, forwarding=True)), Verdict.CONFORMS, case_id, f"{case_id}|forwarding")


@pytest.mark.parametrize("case_id", [cid for cid in HUB_CASES if Capability.AUTHENTICATION not in all_cases()[cid].requires])
def test_conforms_against_a_hub_with_authentication(case_id: str) -> None:
    """The cases' own packets carry the DUT's password: they run against a hub that checks it."""
    _check(run(FUNCTIONS[case_id], case_id, dut(case_id, password=PASSWORD)), Verdict.CONFORMS, case_id, f"{case_id}|password")


def test_hub_cases_do_not_apply_to_a_spoke() -> None:
    case_id = next(cid for cid in CASES if all_cases()[cid].role == "hub")
    assert run(FUNCTIONS[case_id], case_id, InProcessSpokeDut()).verdict is Verdict.NOT_APPLICABLE


def test_spoke_cases_do_not_apply_to_a_hub() -> None:
    case_id = next(cid for cid in CASES if all_cases()[cid].role == "spoke")
    assert run(FUNCTIONS[case_id], case_id, InProcessDut()).verdict is Verdict.NOT_APPLICABLE
