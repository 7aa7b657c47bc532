"""Collect every clause-group module here (registration.py, header.py, ...), not only test_*.py."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix == ".py" and not file_path.name.startswith(("_", "conftest", "test_")):
        if parent.session.isinitpath(file_path):
            return None  # named on the command line: pytest collects it itself (else it would run twice)
        return pytest.Module.from_parent(parent, path=file_path)
    return None
