"""A fault breaks the cases that declare it and no other: for every clause-group module and every
fault a case of it declares, each case of the module that does not declare the fault keeps the
verdict it has against the well-behaved DUT (conforms), or could not test (inconclusive: the fault
broke one of its preconditions); it never deviates or crashes. Long (about 1 400 case runs): with
--run-slow."""

from __future__ import annotations

import pytest

from dmvpn.conformance import Verdict, all_cases

from .selftest import case_functions, group_modules, run
from .test_cases_can_fail import KNOWN_FAULTS, dut, kind

MODULES = group_modules()


def _pairs():
    for module in MODULES:
        functions = case_functions([module])
        for fault in sorted({f for cid in functions for f in all_cases()[cid].breakers}):
            yield pytest.param(module, fault, id=f"{module.__name__.rsplit('.', 1)[-1]}-{fault}")


@pytest.mark.slow
@pytest.mark.parametrize("module,fault", list(_pairs()))
def test_a_fault_leaves_the_cases_it_does_not_concern_as_they_were(module, fault) -> None:
    functions = case_functions([module])
    collateral = {}
    for case_id, function in sorted(functions.items()):
        info = all_cases()[case_id]
        if fault in info.breakers or fault not in KNOWN_FAULTS[kind(case_id)]:
            continue
        result = run(function, case_id, dut(case_id, frozenset({fault})))
        if result.verdict not in (Verdict.CONFORMS, Verdict.INCONCLUSIVE, Verdict.NOT_APPLICABLE):
            collateral[case_id] = f"{result.verdict.value}: {result.detail}"
    assert not collateral, f"{fault} also breaks cases that do not declare it: {collateral}"
