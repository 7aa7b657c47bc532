"""Fixtures for the embedded-lab tests: one hub + 2 spokes lab for the whole session.

Tests that need guests skip (with the reason) when the machine cannot run the lab: not root,
no linux.uml, no FRR. The parser and topology tests run everywhere.
"""

from __future__ import annotations

import pytest

from dmvpn.lab import Lab, PrerequisiteError, Topology, check_prerequisites, poll_until


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "lab: boots user-mode Linux guests (needs root and bin/setup)")


def _require_lab() -> None:
    try:
        check_prerequisites()
    except PrerequisiteError as exc:
        pytest.skip(f"lab not available: {exc}")


@pytest.fixture(scope="session")
def lab_available() -> None:
    _require_lab()


@pytest.fixture(scope="session")
def lab(lab_available) -> Lab:
    """hub + spoke1 + spoke2 with the default topology, booted once per session."""
    with Lab(Topology(hubs=1, spokes=2)) as lab:
        yield lab


def wait_registered(lab: Lab, hub: str, spokes: dict[str, str], timeout: float = 30.0) -> list:
    """Poll ``hub``'s NHRP cache until every spoke tunnel -> NBMA binding is there."""

    def check():
        cache = lab.nhrp_cache(hub)
        have = {e.protocol: e.nbma for e in cache if e.type == "dynamic"}
        return cache if all(have.get(p) == n for p, n in spokes.items()) else None

    return poll_until(check, timeout, 0.2, f"{sorted(spokes)} registered at {hub}")


@pytest.fixture(scope="session")
def registered_lab(lab: Lab) -> Lab:
    """The session lab once both FRR spokes are registered at the hub."""
    wait_registered(lab, "hub", {lab.node(s).tunnel: lab.node(s).nbma for s in ("spoke1", "spoke2")})
    return lab
