"""Case metadata: checklist ID, clause, requirement level, DUT role, the requirement sentence, the
DUT capabilities the case requires and the in-process DUT faults that must make it fail.

Everything is checked when the case is defined: a bad level or role, an unknown capability or a
case without a breaker is an error at import."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import pytest

from dmvpn.dut.capability import Capability, capabilities

LEVELS = ("MUST", "SHOULD", "MAY")
ROLES = ("hub", "spoke", "any")

F = TypeVar("F", bound=Callable)


@dataclass(frozen=True)
class CaseInfo:
    case_id: str  # checklist ID of ../shared/spec/nhrp-dmvpn-reference.md §D, e.g. "REG-07"
    clause: str  # e.g. "RFC 2332 §5.2.3"
    level: str  # MUST / SHOULD / MAY
    role: str  # the DUT's role: hub (DUT-NHS), spoke (DUT-NHC) or any
    requirement: str  # the requirement, as one sentence
    requires: tuple[Capability, ...] = ()  # DUT capabilities without which the case is not applicable
    malformed: bool = False  # sends malformed input: the DUT's health is checked afterwards
    #: faults of the in-process DUT of its role that must make the case fail (tests/conformance)
    breakers: tuple[str, ...] = ()

    @property
    def group(self) -> str:
        return self.case_id.split("-")[0].lower()


class StepFailed(BaseException):
    """A step the rest of the case depends on failed (already recorded): the case ends here.

    A BaseException so that no `except Exception` on the way swallows it; `@case` catches it."""


_REGISTRY: dict[str, CaseInfo] = {}


def case(
    case_id: str,
    *,
    clause: str,
    level: str,
    role: str,
    requirement: str,
    breakers: tuple[str, ...],
    requires: tuple[Capability | str, ...] = (),
    malformed: bool = False,
) -> Callable[[F], F]:
    """Mark a pytest function as conformance case `case_id`.

    `breakers`: the faults of the in-process DUT (`dmvpn.peers.nhs.FAULTS`, `SPOKE_FAULTS`,
    `ESP_FAULTS`) each of which must make this case fail; the self-test runs every one.
    `requires`: the `Capability`s without which the case is not applicable."""
    if level not in LEVELS:
        raise ValueError(f"{case_id}: level must be one of {LEVELS}")
    if role not in ROLES:
        raise ValueError(f"{case_id}: role must be one of {ROLES}")
    if isinstance(breakers, str) or not breakers or not all(isinstance(b, str) and b for b in breakers):
        raise ValueError(f"{case_id}: breakers must name at least one fault that makes the case fail")
    if isinstance(requires, str):
        raise ValueError(f"{case_id}: requires must be a tuple of capabilities, not {requires!r}")
    capabilities(requires, where=case_id)  # an unknown name is an error here, at import
    ordered = tuple(dict.fromkeys(Capability(r) for r in requires))
    info = CaseInfo(case_id, clause, level, role, " ".join(requirement.split()), ordered, malformed, tuple(breakers))
    if case_id in _REGISTRY and _REGISTRY[case_id] != info:
        raise ValueError(f"case {case_id} defined twice")
    _REGISTRY[case_id] = info

    def mark(fn: F) -> F:
        @functools.wraps(fn)
        def run(ctx, *args, **kwargs):
            try:
                return fn(ctx, *args, **kwargs)
            except StepFailed:
                return None  # recorded where it failed; what depended on it did not run

        run.case_info = info  # type: ignore[attr-defined]
        return pytest.mark.dmvpn_case(info)(run)  # type: ignore[return-value]

    return mark


def all_cases() -> dict[str, CaseInfo]:
    return dict(_REGISTRY)
