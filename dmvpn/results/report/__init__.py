"""report.html of a run: one page, one style, an ordered list of sections; a pure consumer.

Writers (dmvpn.results.conformance, dmvpn.results.performance, `dmvpn run`'s wire self-check)
write data files into the run directory; `render_report(run_dir)` reads them and writes
report.html (and performance.html, the performance section alone, when the run has performance
rows). Rendering again replaces the pages: render once, when the data is complete.

A section is a module of this package with `section(run_dir, others) -> str` (HTML, or "" when the
run holds nothing for it; `others` are further runs, for the conformance matrix). To add one,
write `dmvpn/results/report/NAME.py` and add "NAME" to `SECTIONS`, in page order. Nothing else.
"""

from __future__ import annotations

import html
import importlib
from collections.abc import Sequence
from pathlib import Path

#: the sections of report.html, in page order (modules of this package)
SECTIONS = ("wire", "conformance", "performance")

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top;font-size:90%}
th{background:#f3f3f3}.conforms{background:#e7f6e7}.deviates,.crashes{background:#fbe3e3}
.inconclusive,.error{background:#e3e8fb}.known-deviation{background:#fff4d6}.not-applicable{background:#eee;color:#666}
code{font-size:95%}tr.differs td:first-child{font-weight:bold;background:#ffe9a8}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
"""


def section(name: str):
    """The `section` function of the section module `name`."""
    return importlib.import_module(f"{__name__}.{name}").section


def page(title: str, body: Sequence[str]) -> str:
    return "\n".join([f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title><style>{CSS}</style>", *body])


def render_report(run_dir: Path, others: Sequence[Path] = ()) -> Path:
    """Write run_dir/report.html from whatever the run produced (plus other runs for a matrix)."""
    run_dir = Path(run_dir)
    parts = {name: section(name)(run_dir, list(others)) for name in SECTIONS}
    body = [f"<p>run <code>{html.escape(run_dir.name)}</code></p>", *(text for text in parts.values() if text)]
    path = run_dir / "report.html"
    path.write_text(page(f"dmvpn report {run_dir.name}", body))
    if parts.get("performance"):
        from .performance import TITLE

        (run_dir / "performance.html").write_text(page(TITLE, [parts["performance"]]) + "\n")
    return path


def render_comparison(run_a: Path, run_b: Path, output: Path | None = None) -> Path:
    """A page with the conformance matrix of two runs (A, then B), every cell linking to its evidence."""
    run_a, run_b = Path(run_a), Path(run_b)
    output = Path(output) if output else run_b / f"compare-{run_a.name}.html"
    body = _comparison_body(output.parent, run_a, run_b)
    output.write_text(page(f"dmvpn compare {run_a.name} {run_b.name}", [f"<p>A = <code>{html.escape(str(run_a))}</code>, "
                                                                          f"B = <code>{html.escape(str(run_b))}</code></p>", body]))
    return output


def _comparison_body(base: Path, run_a: Path, run_b: Path) -> str:
    from dmvpn.results.conformance import load_conformance

    from .conformance import conformance_section

    frames = [load_conformance(d).assign(run=d.resolve().name) for d in (run_a, run_b)]
    return conformance_section(base, frames)
