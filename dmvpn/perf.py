"""Entry points of the performance side: `dmvpn bench NAME`, `dmvpn report compare` and the main
job's performance part (`run_performance`). No logic of their own: what a benchmark is, runs and
means comes from the registry (dmvpn.bench); files and comparisons from dmvpn.results."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dmvpn import bench as registry


def _add_bench_options(parser: argparse.ArgumentParser) -> None:
    """Every benchmark's options, each flag once; the help says which bench uses it how."""
    merged: dict[str, tuple[registry.Option, dict[str, list[str]]]] = {}
    for bench in registry.benchmarks().values():
        for option in bench.options:
            if option.flag in merged:
                first, helps = merged[option.flag]
                if option.kwargs() != first.kwargs():
                    raise ValueError(f"bench {bench.name}: option {option.flag} disagrees with another bench's "
                                     f"(type, default, choices: {option.kwargs()} vs {first.kwargs()})")
                helps.setdefault(option.help, []).append(bench.name)
            else:
                merged[option.flag] = (option, {option.help: [bench.name]})
    for flag, (option, helps) in merged.items():
        text = "; ".join(f"{', '.join(names)}: {help_}" for help_, names in helps.items())
        parser.add_argument(flag, help=text, **option.kwargs())


def register(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks: packet building, engines, control-plane load")
    bench.add_argument("name", choices=registry.MODULES,
                       help="; ".join(f"{b.name}: {b.summary}" for b in registry.benchmarks().values()))
    bench.add_argument("--json", action="store_true", help="one JSON object per line: bench, metric, value, unit, parameters")
    _add_bench_options(bench)
    main_job = ", ".join(b.name for b in registry.benchmarks().values() if b.main_job)
    bench.add_argument("--save", nargs="?", const="", default=None, metavar="REPORTS",
                       help=f"{main_job}: also write the rows as performance.csv/.parquet + report.html in a new run dir "
                            "(under REPORTS, default reports/)")
    bench.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    bench.set_defaults(func=cmd_bench)

    report = subparsers.add_parser("report", help="reports of past runs: compare performance")
    rsub = report.add_subparsers(dest="report_command", required=True, metavar="ACTION")
    compare = rsub.add_parser("compare", help="compare two runs (conformance verdicts, performance figures); exit 1 on a regression")
    compare.add_argument("run_a", help="the baseline: a run directory or a run id under reports/")
    compare.add_argument("run_b", help="the candidate: a run directory or a run id under reports/")
    compare.add_argument("--threshold", type=float, default=0.10,
                         help="relative change in the worse direction that counts as a regression (default 0.10)")
    compare.add_argument("--strict", action="store_true",
                         help="the threshold alone decides (default: also outside the noise, i.e. the runs' "
                              "min-max ranges over repetitions do not overlap)")
    compare.add_argument("--reports", type=Path, default=None, help="where run ids are looked up (default reports/)")
    compare.add_argument("--json", action="store_true", help="one JSON object per compared case and figure")
    compare.add_argument("-o", "--output", type=Path, default=None,
                         help="the comparison page (default: RUN_B/compare-<RUN_A>.html)")
    compare.set_defaults(func=cmd_report_compare)


def records(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if args.verbose else None
    yield from registry.get(args.name).from_args(args, say)


def cmd_bench(args: argparse.Namespace) -> int:
    rows = []
    try:
        for rec in records(args):
            rows.append(rec)
            if args.json:
                print(json.dumps(rec, default=str), flush=True)
            else:
                params = ", ".join(f"{k}={v}" for k, v in rec.items() if k not in ("bench", "metric", "value", "unit", "ramp"))
                print(f"{rec['bench']:<7} {rec['metric']:<26} {rec['value']:>14} {rec['unit']:<4} ({params})", flush=True)
    except (PermissionError, FileNotFoundError) as exc:
        print(f"dmvpn bench {args.name}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from dmvpn.lab import PrerequisiteError

        if isinstance(exc, PrerequisiteError):
            print(f"dmvpn bench {args.name}: {exc}", file=sys.stderr)
            return 2
        raise
    if args.save is not None and registry.get(args.name).main_job:
        from dmvpn.results.performance import write_performance
        from dmvpn.results.report import render_report
        from dmvpn.results.rundir import new_run_dir

        run_dir = new_run_dir(Path(args.save) if args.save else None, label=f"bench-{args.name}")
        write_performance(rows, run_dir)
        render_report(run_dir)
        print(f"rows, plots and report in {run_dir}", file=sys.stderr)
    return 0


def cmd_report_compare(args: argparse.Namespace) -> int:
    """Conformance (cases whose verdict differs, and which regressed, with a page of both runs'
    matrix and evidence) and performance (figures beyond the threshold), as far as both runs have
    them. Exit 1 when something regressed from A to B."""
    from dmvpn.results.compare import compare_conformance, format_conformance_comparison
    from dmvpn.results.conformance import load_conformance
    from dmvpn.results.performance import compare_runs, format_comparison, resolve_run
    from dmvpn.results.report import render_comparison

    try:
        a = resolve_run(args.run_a, args.reports)
        b = resolve_run(args.run_b, args.reports)
    except FileNotFoundError as exc:
        print(f"dmvpn report compare: {exc}", file=sys.stderr)
        return 2
    regressed, compared = False, False
    if (a / "conformance.csv").exists() and (b / "conformance.csv").exists():
        compared = True
        table = compare_conformance(load_conformance(a), load_conformance(b))
        regressed |= bool(table["regression"].any())
        if args.json:
            for rec in table.to_dict(orient="records"):
                print(json.dumps({"kind": "conformance", **rec}, default=str))
        else:
            print(format_conformance_comparison(table, str(a), str(b)))
        page = render_comparison(a, b, args.output)
        if not args.json:
            print(f"matrix and evidence: {page}")
    try:
        table = compare_runs(a, b, threshold=args.threshold, strict=args.strict)
    except FileNotFoundError:
        table = None
    if table is not None:
        compared = True
        if args.json:
            for rec in table.to_dict(orient="records"):
                print(json.dumps({"kind": "performance", **rec}, default=str))
        else:
            print(format_comparison(table, a, b, args.threshold, args.strict))
        regressed |= bool(len(table) and table["regression"].any())
    if not compared:
        print(f"dmvpn report compare: {a} and {b} have no results in common (conformance or performance)", file=sys.stderr)
        return 2
    return 1 if regressed else 0


def run_performance(run_dir: Path, quick: bool = False, *, scale: bool = False,
                    progress: Callable[[str], None] | None = None) -> Any:
    """The main job's performance part: every benchmark with `main_job` sizes, at the plan's sizes
    (default; quick=True a smoke run; scale=True the long one), rows and notes written into
    `run_dir` (the report is rendered by the caller, once). Returns the rows as a DataFrame.

    Default (about 4-5 minutes): generator (10 000 spokes, 3 x 200 000 exchanges), registration
    against the FRR hub for N = 100, 1 000, 10 000 (3 repetitions each), shortcut with 2 pairs of
    FRR spokes (3 repetitions, a fresh lab each). A benchmark that cannot run here (no root, no
    lab) is skipped with a note in the report; one that fails is named in frame.attrs["failed"]
    (the others still run and are written).
    """
    from dmvpn.results.performance import to_frame, write_performance

    say = progress or (lambda msg: None)
    run_dir = Path(run_dir)
    plan = "scale" if scale else "quick" if quick else "default"
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    failed: list[str] = []
    t0 = time.monotonic()
    for bench in registry.benchmarks().values():
        sizes = bench.main_job.get(plan)
        if sizes is None:
            continue
        t = time.monotonic()
        try:
            for row in bench.run(**sizes, progress=say):
                rows.append(row)
        except PermissionError as exc:
            notes.append(f"{bench.name}: skipped: {exc}")
        except Exception as exc:  # keep the other benchmarks' rows; the failure is in the notes
            from dmvpn.lab import PrerequisiteError

            if isinstance(exc, PrerequisiteError):
                notes.append(f"{bench.name}: skipped: {exc}")
            else:
                failed.append(bench.name)
                notes.append(f"{bench.name}: FAILED: {type(exc).__name__}: {exc}")
        say(f"{bench.name}: {time.monotonic() - t:.0f} s")
    notes.append(f"performance suite ({plan}): {time.monotonic() - t0:.0f} s")
    frame = to_frame(rows)
    write_performance(frame, run_dir, notes)
    frame.attrs["notes"] = notes
    frame.attrs["failed"] = failed  # benchmarks that raised: the caller decides the exit code
    return frame
