"""The one outcome policy: what a case's result means for pytest, JUnit, the report and the exit status.

    PASS        the DUT behaved as required (certify) or as its profile records (regression)
    XFAIL       a deviation the profile records (regression mode only)
    FAIL        a deviation that fails this run: unexpected (regression) or any (certify), or a
                recorded deviation that is gone
    SKIP        the case does not apply to this DUT
    INCOMPLETE  the case could not test (inconclusive, or the harness failed): a certification
                with such a case is incomplete
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from .verdict import Verdict

MODES = ("regression", "certify")


class Outcome(str, Enum):
    PASS = "pass"
    XFAIL = "xfail"
    FAIL = "fail"
    SKIP = "skip"
    INCOMPLETE = "incomplete"


def outcome(verdict: Verdict | str, as_recorded: bool, mode: str = "regression") -> Outcome:
    verdict = Verdict(verdict)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if verdict is Verdict.NOT_APPLICABLE:
        return Outcome.SKIP
    if verdict in (Verdict.INCONCLUSIVE, Verdict.ERROR):
        return Outcome.INCOMPLETE
    if mode == "certify":
        return Outcome.FAIL if verdict.is_deviation else Outcome.PASS
    if not as_recorded:
        return Outcome.FAIL
    return Outcome.XFAIL if verdict.is_deviation else Outcome.PASS


#: `dmvpn run`'s exit status for a conformance part
EXIT_OK, EXIT_FAILED, EXIT_NOT_RUN, EXIT_INCOMPLETE = 0, 1, 2, 3


def exit_status(outcomes: Iterable[Outcome]) -> int:
    """0 when every case passed (or was expected to fail, or does not apply), 1 when one failed,
    3 when none failed but one could not test (the certification is incomplete)."""
    seen = set(outcomes)
    if Outcome.FAIL in seen:
        return EXIT_FAILED
    if Outcome.INCOMPLETE in seen:
        return EXIT_INCOMPLETE
    return EXIT_OK
