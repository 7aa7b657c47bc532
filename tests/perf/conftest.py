"""Fixtures of the performance tests: a veth pair between two namespaces addressed like the lab."""

from __future__ import annotations

import os
import shutil

import pytest


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "lab: boots user-mode Linux guests (needs root and bin/setup)")


def namespaces_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, raw sockets)"
    if not shutil.which("ip"):
        return "needs iproute2"
    return None


@pytest.fixture(scope="module")
def bench_link():
    """A veth pair (dmvpn-test-*): tester side 192.0.2.100 + the spoke ranges, responder side 192.0.2.1."""
    reason = namespaces_unavailable()
    if reason:
        pytest.skip(reason)
    from dmvpn.bench.common import bench_namespaces as _bench_namespaces
    from dmvpn.engines.veth import veth_pair

    with veth_pair("dmvpn-test-") as link:
        _bench_namespaces(link)
        yield link
