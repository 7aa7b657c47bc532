"""Fixtures of the engine tests: profile cases, the real TRex client's JSON, a veth pair."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "profiles"

#: (id, profile file, tunables): every profile at its defaults plus the interesting variants.
PROFILE_CASES = [
    ("registration-default", "registration_storm.py", {}),
    ("registration-auth-nat-2rounds", "registration_storm.py", {"spokes": 20, "password": "cisco", "nat_ext": True, "rounds": 2, "mtu": 1400}),
    ("registration-nokey", "registration_storm.py", {"spokes": 5, "gre_key": -1, "unique": False}),
    ("resolution-default", "resolution_storm.py", {}),
    ("resolution-lan-2targets", "resolution_storm.py", {"spokes": 12, "targets": 2, "target": "lan"}),
    ("hairpin-default", "hairpin.py", {}),
    ("hairpin-burst", "hairpin.py", {"pairs": 3, "flows": 4, "count": 30, "size": 200}),
    ("spoke-data-default", "spoke_data.py", {}),
    ("spoke-data-64-direct", "spoke_data.py", {"size": "64", "path": "direct", "count": 100, "pg_id": 5}),
    ("spoke-data-1400-hub", "spoke_data.py", {"size": "1400", "path": "hub", "count": 50, "flows": 7}),
    ("esp-default", "esp_data.py", {}),
    ("esp-natt-registration", "esp_data.py", {"count": 20, "nat_t": True, "payload": "registration", "first_seq": 1000}),
    ("esp-direct", "esp_data.py", {"count": 10, "path": "direct", "size": 1400}),
]
CASE_IDS = [c[0] for c in PROFILE_CASES]


def trex_client_installed() -> bool:
    return importlib.util.find_spec("lbr_trex_client") is not None


@pytest.fixture(scope="session")
def real_client_json() -> dict[str, dict]:
    """{case id: {"streams": JSON, "env": ...}} from the real TRex client, all cases in one child process."""
    if not trex_client_installed():
        pytest.skip("lbr-trex-client is not installed (pip install lbr-trex-client): cannot load profiles with TRex's client")
    from dmvpn.engines.trex import TrexEngine

    answer = TrexEngine().load_many([{"path": PROFILES / f, "tunables": t} for _, f, t in PROFILE_CASES])
    return {cid: {"streams": r["streams"], "tunables": r["tunables"], "env": answer["env"]} for (cid, _, _), r in zip(PROFILE_CASES, answer["results"])}


def can_make_namespaces() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, AF_PACKET)"
    if not shutil.which("ip"):
        return "needs iproute2"
    return None


@pytest.fixture(scope="module")
def veth():
    """A veth pair between two fresh namespaces (deleted afterwards), IPv6 off, nothing else on the link."""
    reason = can_make_namespaces()
    if reason:
        pytest.skip(reason)
    from dmvpn.engines.veth import veth_pair

    with veth_pair("dmvpn-test-") as link:
        yield link
