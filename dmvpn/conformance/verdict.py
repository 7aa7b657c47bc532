"""The one place where a verdict is decided from a case's observations.

Whether a verdict may be given at all (the DUT's health before and after the case, a crash during
it) is the run policy's question (`runner.py`); this module only turns the observations of a case
that ran on a healthy DUT into a verdict, against the DUT's expectations profile.
"""

from __future__ import annotations

from enum import Enum

from .case import CaseInfo
from .context import Observation
from .profile import ExpectationsProfile


class Verdict(str, Enum):
    CONFORMS = "conforms"
    DEVIATES = "deviates"
    KNOWN_DEVIATION = "known-deviation"
    #: the case brought the DUT down (a deviation: the finding comes with a signature and a reproducer)
    CRASHES = "crashes"
    NOT_APPLICABLE = "not-applicable"
    #: could not test: a precondition failed, the DUT was down before the case, or its management
    #: plane could not be read where the case needs it; no DUT verdict
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"  # the harness itself failed; no DUT verdict

    @property
    def is_dut_verdict(self) -> bool:
        """A verdict about the DUT (as opposed to "could not test" or "does not apply")."""
        return self in (Verdict.CONFORMS, Verdict.DEVIATES, Verdict.KNOWN_DEVIATION, Verdict.CRASHES)

    @property
    def is_deviation(self) -> bool:
        return self in (Verdict.DEVIATES, Verdict.KNOWN_DEVIATION, Verdict.CRASHES)


def not_applicable_reason(info: CaseInfo, capabilities: frozenset[str] | set[str], dut_role: str | None) -> str | None:
    """Why a case does not apply to this DUT (no DUT in its role, its role, a feature it lacks), or None.

    The only place applicability is decided."""
    if dut_role is None:
        return f"no DUT plays the {info.role} role in this run"
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
) -> tuple[Verdict, str, bool]:
    """(verdict, detail, as_recorded) for a case that ran on a DUT known healthy before and after.

    `as_recorded` is what a regression run checks: the DUT behaved as its profile records (it
    conforms where the profile lists nothing, deviates exactly as recorded where it does).
    A failed precondition means the case could not test: inconclusive, whatever else was seen.
    """
    unmet = [o for o in observations if o.precondition and not o.conforms]
    if unmet:
        return Verdict.INCONCLUSIVE, "could not test: " + "; ".join(o.observed for o in unmet), False
    checks = [o for o in observations if not o.precondition]
    if not checks:
        return Verdict.ERROR, "the case made no observation", False
    failed = [o for o in checks if not o.conforms]
    known = profile.deviation(info.case_id) if profile else None
    if not failed:
        if known is not None and known.intermittent:
            return Verdict.CONFORMS, "conforms this time (the profile records an intermittent deviation)", True
        if known is not None:
            return Verdict.CONFORMS, f"conforms; the profile's known deviation ({' | '.join(known.observed)}) is gone", False
        return Verdict.CONFORMS, "; ".join(o.observed for o in checks), True
    observed = "; ".join(o.observed for o in failed)
    expected = "; ".join(o.expected for o in failed)
    if known is not None and known.matches(observed):
        note = f" ({known.upstream})" if known.upstream else ""
        return Verdict.KNOWN_DEVIATION, f"observed {observed}; RFC expects {expected}{note}", True
    if known is not None:
        return Verdict.DEVIATES, f"observed {observed}; RFC expects {expected}; profile recorded {' | '.join(known.observed)}", False
    return Verdict.DEVIATES, f"observed {observed}; RFC expects {expected}", False


def decide_crash(info: CaseInfo, signature: str, profile: ExpectationsProfile | None) -> tuple[Verdict, str, bool]:
    """A case during which the DUT went down: `crashes`, as recorded when the profile records this
    case crashing with this signature."""
    known = profile.deviation(info.case_id) if profile else None
    words = f"crashes: {signature}"
    as_recorded = known is not None and known.matches(words)
    return Verdict.CRASHES, words, as_recorded
