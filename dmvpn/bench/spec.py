"""What a benchmark module declares: `BENCHMARK = Benchmark(...)` (see dmvpn.bench)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]
Progress = Callable[[str], None]


def record(bench: str, metric: str, value: float, unit: str, **params: Any) -> Row:
    """One row: what `dmvpn bench NAME --json` prints and performance.csv holds."""
    return {"bench": bench, "metric": metric, "value": value, "unit": unit, **params}


@dataclass(frozen=True)
class Metric:
    """A figure a benchmark reports: its unit, which way is better ("higher", "lower" or "" for a
    figure `dmvpn report compare` does not judge), and whether its rows are samples of a
    distribution (one row per sample: plotted, not compared)."""

    unit: str
    better: str = ""
    sample: bool = False

    def __post_init__(self) -> None:
        if self.better not in ("higher", "lower", ""):
            raise ValueError(f"better must be 'higher', 'lower' or '', not {self.better!r}")


@dataclass(frozen=True)
class Option:
    """A command-line option of `dmvpn bench`. Options several benchmarks declare are one option:
    their type, default and choices must agree; the help texts are joined, each under its bench."""

    flag: str
    help: str
    type: Callable[[str], Any] | None = None
    default: Any = None
    choices: tuple | None = None

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"default": self.default}
        if self.type is not None:
            out["type"] = self.type
        if self.choices is not None:
            out["choices"] = self.choices
        return out


@dataclass(frozen=True)
class Plot:
    """A PNG of the performance section: `draw(frame, plt)` returns a matplotlib figure, or None
    when the frame holds nothing to draw (frame: all rows of the run, every benchmark's)."""

    name: str
    draw: Callable[[Any, Any], Any]


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: how to run it and what its rows mean.

    run          the runner: keyword arguments -> rows (a generator of `record(...)` dicts)
    summary      one line for `dmvpn bench --help`
    metrics      {metric: Metric}: units, better direction, per-sample rows
    key_params   {parameter: default or None}: the parameters that say which figure a row is
                 (besides bench and metric; repetitions are medianed), and what a row lacking one
                 means
    main_job     {"quick" | "default" | "scale": runner keyword arguments}: the sizes `dmvpn run`
                 uses (default; `--scale`); empty: not part of the main job
    options      command-line options of `dmvpn bench NAME`
    from_args    (argparse namespace, progress or None) -> rows: the runner called with the options
    plots        the plots of the performance section drawn from this benchmark's rows
    """

    name: str
    run: Callable[..., Iterator[Row]]
    summary: str
    metrics: Mapping[str, Metric]
    from_args: Callable[[argparse.Namespace, Progress | None], Iterable[Row]]
    key_params: Mapping[str, Any] = field(default_factory=dict)
    main_job: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    options: tuple[Option, ...] = ()
    plots: tuple[Plot, ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.main_job) - {"quick", "default", "scale"}
        if unknown:
            raise ValueError(f"bench {self.name}: main_job sizes must be quick/default/scale, not {sorted(unknown)}")
