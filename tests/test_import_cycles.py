"""No import cycle in dmvpn/, at package or module level (lazy imports inside functions count)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dmvpn.tools.imports import PACKAGE_ROOT, cycles, format_cycle, module_edges, package_edges

REPO = Path(__file__).resolve().parents[1]


def test_no_package_level_cycle() -> None:
    found = cycles(package_edges(module_edges()))
    assert not found, "import cycles between packages:\n" + "\n".join(map(format_cycle, found))


def test_no_module_level_cycle() -> None:
    found = cycles(module_edges())
    assert not found, "import cycles between modules:\n" + "\n".join(map(format_cycle, found))


def test_the_command_says_so() -> None:
    out = subprocess.run([sys.executable, "-m", "dmvpn.tools.imports"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "package-level cycles: 0" in out.stdout and "module-level cycles: 0" in out.stdout


def test_the_checker_sees_lazy_and_relative_imports(tmp_path) -> None:
    pkg = tmp_path / "dmvpn"
    for sub in ("a", "b"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "x.py").write_text("from ..b import y\n")
    (pkg / "b" / "y.py").write_text("def f():\n    from dmvpn.a.x import g\n")
    (pkg / "b" / "z.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from dmvpn.a import x\n")
    edges = module_edges(pkg)
    assert {(e.src, e.dst) for e in edges} == {("dmvpn.a.x", "dmvpn.b.y"), ("dmvpn.b.y", "dmvpn.a.x")}
    [modules] = cycles(edges)
    assert [e.src for e in modules] == ["dmvpn.a.x", "dmvpn.b.y"]
    [packages] = cycles(package_edges(edges))
    assert [e.src for e in packages] == ["dmvpn.a", "dmvpn.b"] and packages[1].where.endswith("y.py:2")


def test_the_checker_reads_the_real_package() -> None:
    assert PACKAGE_ROOT.name == "dmvpn" and (PACKAGE_ROOT / "tools" / "imports.py").is_file()
    assert any(e.src == "dmvpn.run" for e in module_edges())
