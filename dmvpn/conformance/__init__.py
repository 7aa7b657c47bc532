"""Conformance cases as data: metadata, observations, expectations profiles and verdicts.

A case is a pytest function in the module of its ID prefix under suites/conformance (the table is
`suites.conformance.MODULES`), marked with `@case(...)`: ID, clause, level, role, requirement,
the in-process faults that must break it (`breakers=`) and the `Capability`s it `requires=`
(checked at import). It drives peers and ends in observations made through the `CaseContext`
vocabulary (`expect_reply`, `expect_error_indication`, `expect_silence`, `precondition`, ...).
The verdict is decided in one place, `decide()`, from those observations and the DUT's
expectations profile; the run policy (health after every case, crashes, retries) is `runner.py`.

To add a case: see suites/README.md (write it, name its breakers; the self-test finds it).
Benchmarks and report sections: profiles/README.md.
"""

from .case import CaseInfo, StepFailed, all_cases, case
from .context import CaseContext, Missing, Observation, present
from .profile import ExpectationsProfile, KnownDeviation, load_profile
from .verdict import Verdict, decide

__all__ = [
    "CaseContext", "CaseInfo", "ExpectationsProfile", "KnownDeviation", "Missing", "Observation", "StepFailed", "Verdict",
    "all_cases", "case", "decide", "load_profile", "present",
]
