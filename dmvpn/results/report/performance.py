"""The performance section: the figures table (median over repetitions), the notes of the run and
the plots each benchmark declares (dmvpn.bench), drawn into plots/ from performance.parquet."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import pandas as pd

from dmvpn import bench as registry
from dmvpn.results.performance import BEGIN, END, KEY_PARAMS, has_performance, load_notes, load_performance, summary

TITLE = "dmvpn performance"  #: the title of performance.html, the page of this section alone


def section(run_dir: Path, others: list[Path] = ()) -> str:
    if not has_performance(run_dir):
        return ""
    frame = load_performance(run_dir)
    plots = render_plots(frame, run_dir / "plots")
    return html_section(frame, run_dir, plots, load_notes(run_dir))


def render_plots(frame: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    """PNG plots of what the frame holds, each benchmark's in registry order: {name: path}."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    plots: dict[str, Path] = {}
    for bench in registry.benchmarks().values():
        for plot in bench.plots:
            fig = plot.draw(frame, plt)
            if fig is None:
                continue
            path = out_dir / f"{plot.name}.png"
            fig.tight_layout()
            fig.savefig(path, dpi=100)
            plt.close(fig)
            plots[plot.name] = path
    return plots


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:,.3f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:,.0f}"
    return html.escape(str(v))


def html_section(frame: pd.DataFrame, run_dir: Path, plots: dict[str, Path], notes: list[str] | None = None) -> str:
    parts = [BEGIN, "<h1>DMVPN performance</h1>"]
    for note in notes or []:
        parts.append(f"<p><em>{html.escape(note)}</em></p>")
    table = summary(frame)
    if table.empty:
        parts.append("<p>No performance rows.</p>")
    else:
        parts.append("<h2>Figures (median over repetitions)</h2><table><tr><th>bench</th><th>metric</th>"
                     + "".join(f"<th>{k.replace('_', ' ')}</th>" for k in KEY_PARAMS)
                     + "<th>median</th><th>min</th><th>max</th><th>unit</th><th>n</th></tr>")
        for row in table.itertuples(index=False):
            size = [("-" if pd.isna(getattr(row, k)) else f"{int(getattr(row, k)):,}") for k in KEY_PARAMS]
            parts.append(
                f"<tr><td>{row.bench}</td><td>{row.metric}</td>" + "".join(f"<td>{x}</td>" for x in size) + ""
                f"<td>{_fmt(float(row.median))}</td><td>{_fmt(float(row.min))}</td><td>{_fmt(float(row.max))}</td>"
                f"<td>{html.escape(str(row.unit))}</td><td>{row.n}</td></tr>"
            )
        parts.append("</table>")
    for name, path in plots.items():
        rel = path.relative_to(run_dir) if path.is_relative_to(run_dir) else path
        parts.append(f"<h3>{html.escape(name.replace('_', ' '))}</h3><img src='{html.escape(str(rel))}' alt='{name}'>")
    parts.append("<p>All rows: <a href='performance.csv'>performance.csv</a>, "
                 "<a href='performance.parquet'>performance.parquet</a>.</p>")
    parts.append(END)
    return "\n".join(parts)
