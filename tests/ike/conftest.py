"""IKEv2 tests: they skip (with the reason) when strongSwan is not installed, and the lab ones
also when the lab cannot run here (not root, no user-mode Linux or FRR); nothing else skips."""

from __future__ import annotations

import pytest

from dmvpn.ike import strongswan_available
from dmvpn.lab import PrerequisiteError, check_prerequisites


@pytest.fixture(scope="session")
def strongswan() -> None:
    reason = strongswan_available()
    if reason:
        pytest.skip(f"strongSwan not installed: {reason} (bin/setup installs it)")


@pytest.fixture(scope="session")
def ike_lab_available(strongswan) -> None:
    try:
        check_prerequisites()
    except PrerequisiteError as exc:
        pytest.skip(f"lab not available: {exc}")
