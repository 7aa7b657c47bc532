"""Project-wide pytest options (the suites' own fixtures live in dmvpn.pytest_plugin later)."""

from __future__ import annotations

import pytest

pytest_plugins = ["dmvpn.pytest_plugin"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dmvpn")
    group.addoption("--run-slow", action="store_true", help="run long fuzz, soak and scale tests")
    group.addoption(
        "--fuzz-examples",
        type=int,
        default=None,
        help="hypothesis examples for the decode fuzz tests (default 10000; 200000 with --run-slow)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="long run: pass --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
