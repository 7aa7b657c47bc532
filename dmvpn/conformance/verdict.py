"""The one place where a verdict is decided."""

from __future__ import annotations

from enum import Enum

from .case import CaseInfo
from .context import Observation
from .profile import ExpectationsProfile


class Verdict(str, Enum):
    CONFORMS = "conforms"
    DEVIATES = "deviates"
    KNOWN_DEVIATION = "known-deviation"
    NOT_APPLICABLE = "not-applicable"
    ERROR = "error"  # the case itself could not run (harness or DUT unreachable), not a DUT verdict


def not_applicable_reason(info: CaseInfo, capabilities: frozenset[str] | set[str], dut_role: str) -> str | None:
    """Why a case does not apply to this DUT (its role, a feature it lacks), or None."""
    if info.role != "any" and info.role != dut_role:
        return f"case is for a DUT {info.role}; this DUT is a {dut_role}"
    missing = [c for c in info.requires if c not in capabilities]
    if missing:
        return f"the DUT lacks: {', '.join(missing)}"
    return None


def decide(
    info: CaseInfo,
    observations: list[Observation],
    profile: ExpectationsProfile | None,
    capabilities: frozenset[str] | set[str],
    dut_role: str,
) -> tuple[Verdict, str, bool]:
    """(verdict, detail, as_recorded).

    `as_recorded` is what a regression run checks: the DUT behaved as its profile records (it
    conforms where the profile lists nothing, deviates exactly as recorded where it does).
    """
    reason = not_applicable_reason(info, capabilities, dut_role)
    if reason is not None:
        return Verdict.NOT_APPLICABLE, reason, True
    if not observations:
        return Verdict.ERROR, "the case made no observation", False
    failed = [o for o in observations if not o.conforms]
    known = profile.deviation(info.case_id) if profile else None
    if not failed:
        if known is not None and known.intermittent:
            return Verdict.CONFORMS, "conforms this time (the profile records an intermittent deviation)", True
        if known is not None:
            return Verdict.CONFORMS, f"conforms; the profile's known deviation ({' | '.join(known.observed)}) is gone", False
        return Verdict.CONFORMS, "; ".join(o.observed for o in observations), True
    observed = "; ".join(o.observed for o in failed)
    expected = "; ".join(o.expected for o in failed)
    if known is not None and known.matches(observed):
        note = f" ({known.upstream})" if known.upstream else ""
        return Verdict.KNOWN_DEVIATION, f"observed {observed}; RFC expects {expected}{note}", True
    if known is not None:
        return Verdict.DEVIATES, f"observed {observed}; RFC expects {expected}; profile recorded {' | '.join(known.observed)}", False
    return Verdict.DEVIATES, f"observed {observed}; RFC expects {expected}", False
