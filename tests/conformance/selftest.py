"""What the "cases can fail" self-tests share: the case functions by ID, the in-process DUT, one run.

Every hub case is run against the well-behaved in-process hub (it must conform) and against hubs
with one fault each (it must deviate). A DUT can be given the capabilities and the password a case
needs, and can be made a forwarding hub (one that passes its clients' Resolution Requests on, as
DMVPN hubs do, instead of answering them from its bindings).
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from types import ModuleType

import suites.conformance
from dmvpn.conformance import all_cases
from dmvpn.conformance.runner import CaseResult, run_case
from dmvpn.dut import InProcessDut
from dmvpn.peers import Tunnel

PASSWORD = b"DMVPN"

#: faults that bring the in-process DUT down: the run policy reports those cases as crashes
CRASH_FAULTS = frozenset({"crash-on-malformed", "crash-on-gre-sequence", "keepalive-is-esp"})


def expected_verdict(fault: str):
    """What a case reports against a DUT with this one fault: a crash, or a deviation."""
    from dmvpn.conformance import Verdict

    return Verdict.CRASHES if fault in CRASH_FAULTS else Verdict.DEVIATES


def group_modules(names: list[str] | None = None) -> list[ModuleType]:
    """The clause-group modules of suites/conformance (all of them, or these)."""
    found = [m.name for m in pkgutil.iter_modules(suites.conformance.__path__) if not m.name.startswith(("_", "conftest", "test_"))]
    return [importlib.import_module(f"suites.conformance.{name}") for name in (names if names is not None else found)]


def case_functions(modules: list[ModuleType]) -> dict:
    """case ID -> the case function, for the cases these modules define."""
    return {
        fn.case_info.case_id: fn
        for mod in modules
        for fn in vars(mod).values()
        if hasattr(fn, "case_info") and getattr(fn, "__module__", mod.__name__) == mod.__name__
    }


def hub_cases(functions: dict) -> list[str]:
    return sorted(cid for cid, info in all_cases().items() if cid in functions and info.role in ("hub", "any"))


def in_process_dut(faults: set[str] | frozenset[str] = frozenset(), capabilities=(), password: bytes | None = None, forwarding: bool = False) -> InProcessDut:
    """The in-process hub with these faults, extra capabilities, password, and forwarding behaviour."""
    dut = InProcessDut(set(faults))
    dut.info = dataclasses.replace(dut.info, capabilities=dut.info.capabilities | set(capabilities), password=password)
    tunnel = dut.nhs.tunnel
    dut.nhs.tunnel = Tunnel(tunnel.gre_key, tunnel.holding_time, tunnel.mtu, password)
    dut.nhs.forward_to_clients = forwarding
    return dut


def run(function, case_id: str, dut) -> CaseResult:
    return run_case(function, all_cases()[case_id], dut, dut.open_link(), None, None)


def dut_for(case_id: str, faults: set[str] | frozenset[str] = frozenset(), **kwargs) -> InProcessDut:
    """An in-process hub able to run `case_id`: the capabilities it requires, a password if it needs one."""
    requires = all_cases()[case_id].requires
    password = kwargs.pop("password", PASSWORD if "authentication" in requires else None)
    return in_process_dut(faults, capabilities=requires, password=password, **kwargs)
