"""The wire self-check section: wire/summary.txt as `dmvpn run` wrote it."""

from __future__ import annotations

import html
from pathlib import Path


def section(run_dir: Path, others: list[Path] = ()) -> str:
    wire = run_dir / "wire" / "summary.txt"
    if not wire.exists():
        return ""
    return "<h1>Wire self-check</h1><pre>" + html.escape(wire.read_text()) + "</pre>"
