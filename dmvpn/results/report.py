"""report.html of a run: the wire self-check, conformance and performance, as far as they ran."""

from __future__ import annotations

import html
from pathlib import Path

from .conformance import CSS, conformance_section, load_conformance


def render_report(run_dir: Path, others: list[Path] = ()) -> Path:
    """Write run_dir/report.html from whatever the run produced (plus other runs for a matrix)."""
    parts = [f"<!doctype html><meta charset=utf-8><title>dmvpn report {html.escape(run_dir.name)}</title><style>{CSS}</style>"]
    parts.append(f"<p>run <code>{html.escape(run_dir.name)}</code></p>")
    wire = run_dir / "wire" / "summary.txt"
    if wire.exists():
        parts.append("<h1>Wire self-check</h1><pre>" + html.escape(wire.read_text()) + "</pre>")
    frames = [load_conformance(d) for d in [run_dir, *others] if (d / "conformance.csv").exists()]
    if frames:
        parts.append(conformance_section(run_dir, frames))
    try:
        from .performance import performance_section
    except ImportError:
        performance_section = None
    if performance_section is not None:
        section = performance_section(run_dir)
        if section:
            parts.append(section)
    path = run_dir / "report.html"
    path.write_text("\n".join(parts))
    return path
