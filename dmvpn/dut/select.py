"""Choosing the DUTs of a run: the embedded lab, an in-process fake, or a testbed file."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from . import DutSet

KINDS = ("lab", "inprocess", "inprocess-spoke")


def open_duts(
    kind: str = "lab",
    faults: Iterable[str] = (),
    testbed: str | Path | None = None,
    progress: Callable[[str], None] = print,
    implementation: str | None = None,
) -> DutSet:
    """The DUTs by role. `testbed` wins over `kind`; faults apply to the in-process DUTs only;
    `implementation` (e.g. "frr-10.3", default frr-8.4) is the embedded lab's."""
    if testbed:
        from .testbed import TestbedDut

        dut = TestbedDut.from_file(testbed)
        return DutSet({dut.info.role: dut})
    faults = {f for f in faults if f}
    if kind == "inprocess":
        from . import InProcessDut

        return DutSet({"hub": InProcessDut(faults)})
    if kind == "inprocess-spoke":
        from .inprocess import InProcessSpokeDut

        return DutSet({"spoke": InProcessSpokeDut(faults)})
    if kind == "lab":
        from .lab import boot_lab_duts, conformance_topology

        topology = conformance_topology(implementation) if implementation else None
        return boot_lab_duts(topology=topology, progress=progress)
    raise ValueError(f"the DUT must be one of {', '.join(KINDS)}, not {kind!r}")
