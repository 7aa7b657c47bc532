"""A reader finds a case's file from its ID: every case lives in the module its ID prefix names
(suites/conformance/__init__.py MODULES, stated in suites/README.md), and every module is one."""

from __future__ import annotations

import suites.conformance
from suites.conformance import MODULES, module_for

from .selftest import case_functions, group_modules


def test_every_case_lives_in_the_module_of_its_id_prefix() -> None:
    functions = case_functions(group_modules())
    assert len(functions) >= 100
    misplaced = {cid: fn.__module__ for cid, fn in functions.items() if fn.__module__ != module_for(cid)}
    assert not misplaced, f"cases outside the module of their ID prefix: {misplaced}"


def test_every_module_is_a_clause_group() -> None:
    found = {m.__name__.rsplit(".", 1)[1] for m in group_modules()}
    assert found == set(MODULES.values()), f"modules without a prefix: {sorted(found - set(MODULES.values()))}"
    assert all(m.__name__.startswith(suites.conformance.__name__) for m in group_modules())
