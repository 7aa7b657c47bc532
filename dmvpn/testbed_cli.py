"""`dmvpn testbed check FILE`: validate a testbed file, resolve its namespace, interface and route,
and print what a run would send and to whom, sending nothing. `dmvpn run --testbed FILE --dry-run`
prints the same."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections import Counter
from pathlib import Path

from dmvpn.dut.testbed import TestbedError, load
from dmvpn.dut.testbed.check import plan, resolve

SUITES = Path(__file__).resolve().parent.parent / "suites"


def applicability(testbed) -> Counter:
    """How many conformance cases apply to the testbed's DUT (key None) and why the others do not,
    by the run policy's own rule (dmvpn.conformance.verdict.not_applicable_reason)."""
    root = str(SUITES.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    import suites.conformance

    from dmvpn.conformance import all_cases
    from dmvpn.conformance.verdict import not_applicable_reason

    for m in pkgutil.iter_modules(suites.conformance.__path__):
        if not m.name.startswith(("_", "conftest", "test_")):
            importlib.import_module(f"suites.conformance.{m.name}")
    info = testbed.info
    return Counter(not_applicable_reason(c, info.capabilities, info.role) for c in all_cases().values())


def check(path: str | Path, out=print, prog: str = "dmvpn testbed check") -> int:
    """Check the file and print the plan: 0, or 2 with one line on stderr."""
    try:
        testbed = load(path)
        where = resolve(testbed)
    except TestbedError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    try:
        cases = applicability(testbed)
    except Exception as exc:  # the plan without case counts is still worth printing
        out(f"(cases not counted: {type(exc).__name__}: {exc})")
        cases = None
    for line in plan(testbed, where, cases):
        out(line)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("testbed", help="external gear: check a testbed file")
    sub = parser.add_subparsers(dest="testbed_command", required=True, metavar="ACTION")
    c = sub.add_parser("check", help="validate FILE, resolve its interface, print what a run would send (sends nothing)")
    c.add_argument("file", type=Path)
    c.set_defaults(func=lambda args: check(args.file))
