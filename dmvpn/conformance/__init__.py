"""Conformance cases as data: metadata, observations, expectations profiles and verdicts.

A case is a pytest function in the module of its clause group under suites/conformance, marked
with `@case(...)`. It drives peers and ends in observations made through the `CaseContext`
vocabulary (`expect_reply`, `expect_error_indication`, `expect_silence`, ...). The verdict is
decided in one place, `decide()`, from those observations and the DUT's expectations profile.
"""

from .case import CaseInfo, all_cases, case
from .context import CaseContext, Observation
from .profile import ExpectationsProfile, KnownDeviation, load_profile
from .verdict import Verdict, decide

__all__ = [
    "CaseContext", "CaseInfo", "ExpectationsProfile", "KnownDeviation", "Observation", "Verdict",
    "all_cases", "case", "decide", "load_profile",
]
