"""Case metadata: checklist ID, clause, requirement level, DUT role and the requirement sentence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import pytest

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
    requires: tuple[str, ...] = ()  # DUT capabilities without which the case is not applicable
    malformed: bool = False  # sends malformed input: the DUT's health is checked afterwards

    @property
    def group(self) -> str:
        return self.case_id.split("-")[0].lower()


_REGISTRY: dict[str, CaseInfo] = {}


def case(
    case_id: str,
    *,
    clause: str,
    level: str,
    role: str,
    requirement: str,
    requires: tuple[str, ...] = (),
    malformed: bool = False,
) -> Callable[[F], F]:
    """Mark a pytest function as conformance case `case_id`."""
    if level not in LEVELS:
        raise ValueError(f"{case_id}: level must be one of {LEVELS}")
    if role not in ROLES:
        raise ValueError(f"{case_id}: role must be one of {ROLES}")
    info = CaseInfo(case_id, clause, level, role, " ".join(requirement.split()), tuple(requires), malformed)
    if case_id in _REGISTRY and _REGISTRY[case_id] != info:
        raise ValueError(f"case {case_id} defined twice")
    _REGISTRY[case_id] = info

    def mark(fn: F) -> F:
        fn.case_info = info  # type: ignore[attr-defined]
        return pytest.mark.dmvpn_case(info)(fn)

    return mark


def all_cases() -> dict[str, CaseInfo]:
    return dict(_REGISTRY)
