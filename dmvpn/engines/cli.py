"""`dmvpn bench NAME` (see dmvpn.engines.bench) and `dmvpn report compare` (dmvpn.results.performance)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

BENCHES = ("build", "engine", "esp", "generator", "registration", "shortcut")

_HELP = (
    "build: template vs scapy; engine: local engine vs trafgen -P 1 (root); "
    "esp: ESP encrypt-and-send, fast path vs scapy's SA (root); "
    "generator: closed-loop fake spokes vs the null responder and the blocking loop (root); "
    "registration: FRR hub registration storm, cache check, refresh ramp (lab); "
    "shortcut: FRR spokes' time to shortcut (lab)"
)


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks: packet building, engines, control-plane load")
    bench.add_argument("name", choices=BENCHES, help=_HELP)
    bench.add_argument("--json", action="store_true", help="one JSON object per line: bench, metric, value, unit, parameters")
    bench.add_argument("--iterations", type=int, default=20000, help="build: template builds timed (scapy: 1/50 of it, >= 10)")
    bench.add_argument("--count", type=int, default=None,
                       help="engine: packets per sender per repetition (1 000 000); generator: exchanges per repetition (200 000)")
    bench.add_argument("--repeat", type=int, default=None, help="repetitions (build, engine: 1; generator, registration, shortcut: 3)")
    bench.add_argument("--batch", type=int, default=256, help="engine: sendmmsg batch size")
    bench.add_argument("--spokes", type=_ints, default=None,
                       help="generator: emulated spokes (10000); registration: comma-separated N (100,1000,10000)")
    bench.add_argument("--window", type=int, default=None, help="requests in flight (generator 128, registration 16)")
    bench.add_argument("--pairs", type=int, default=2, help="shortcut: spoke pairs K (a lab of 2K FRR spokes)")
    bench.add_argument("--nflog-threshold", type=int, default=None,
                       help="shortcut: rewrite the hub's NFLOG rule with --nflog-threshold N (default: as FRR documents it)")
    bench.add_argument("--bisect", type=int, default=3, help="registration: bisection steps after the doubling ramp")
    bench.add_argument("--step", type=float, default=1.0, help="registration: seconds per ramp step")
    bench.add_argument("--latency-ms", type=float, default=100.0, help="registration: p99 threshold of a passing ramp step")
    bench.add_argument("--nat", choices=("always", "auto", "never"), default="always",
                       help="registration: emulated spokes behind NAT (always: uniform for every N)")
    bench.add_argument("--save", nargs="?", const="", default=None, metavar="REPORTS",
                       help="also write the rows as performance.csv/.parquet + report.html in a new run dir "
                            "(under REPORTS, default reports/)")
    bench.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    bench.set_defaults(func=cmd_bench)

    report = subparsers.add_parser("report", help="reports of past runs: compare performance")
    rsub = report.add_subparsers(dest="report_command", required=True, metavar="ACTION")
    compare = rsub.add_parser("compare", help="compare the performance rows of two runs; flags regressions")
    compare.add_argument("run_a", help="the baseline: a run directory or a run id under reports/")
    compare.add_argument("run_b", help="the candidate: a run directory or a run id under reports/")
    compare.add_argument("--threshold", type=float, default=0.10,
                         help="relative change in the worse direction that counts as a regression (default 0.10)")
    compare.add_argument("--strict", action="store_true",
                         help="the threshold alone decides (default: also outside the noise, i.e. the runs' "
                              "min-max ranges over repetitions do not overlap)")
    compare.add_argument("--reports", type=Path, default=None, help="where run ids are looked up (default reports/)")
    compare.add_argument("--json", action="store_true", help="one JSON object per compared figure")
    compare.set_defaults(func=cmd_report_compare)


def records(args: argparse.Namespace) -> Any:
    from dmvpn.engines import bench

    say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if args.verbose else None
    if args.name == "build":
        for rep in range(max(1, args.repeat or 1)):
            for rec in bench.bench_build(args.iterations):
                yield {**rec, "repetition": rep}
    elif args.name == "esp":
        for rep in range(max(1, args.repeat or 1)):
            for rec in bench.bench_esp(count=args.count or 20000):
                yield {**rec, "repetition": rep}
    elif args.name == "engine":
        yield from bench.bench_engine(count=args.count or 1_000_000, repeat=max(1, args.repeat or 1), batch=args.batch)
    elif args.name == "generator":
        yield from bench.bench_generator(spokes=(args.spokes or [10000])[0], count=args.count or 200_000,
                                         window=args.window or 128, repeat=max(1, args.repeat or 3), progress=say)
    elif args.name == "registration":
        yield from bench.bench_registration(spokes=args.spokes or (100, 1000, 10000), repeat=max(1, args.repeat or 3),
                                            window=args.window or 16, step_s=args.step, bisect=args.bisect,
                                            latency_ms=args.latency_ms, nat=args.nat, progress=say)
    else:
        yield from bench.bench_shortcut(pairs=max(1, args.pairs), repeat=max(1, args.repeat or 3),
                                        nflog_threshold=args.nflog_threshold, progress=say)


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
    if args.save is not None and args.name in ("generator", "registration", "shortcut"):
        from dmvpn.results.performance import write_performance
        from dmvpn.results.rundir import new_run_dir

        run_dir = new_run_dir(Path(args.save) if args.save else None, label=f"bench-{args.name}")
        write_performance(rows, run_dir)
        print(f"rows, plots and report in {run_dir}", file=sys.stderr)
    return 0


def cmd_report_compare(args: argparse.Namespace) -> int:
    from dmvpn.results.performance import compare_runs, format_comparison, resolve_run

    try:
        a = resolve_run(args.run_a, args.reports)
        b = resolve_run(args.run_b, args.reports)
        table = compare_runs(a, b, threshold=args.threshold, strict=args.strict)
    except FileNotFoundError as exc:
        print(f"dmvpn report compare: {exc}", file=sys.stderr)
        return 2
    if args.json:
        for rec in table.to_dict(orient="records"):
            print(json.dumps(rec, default=str))
    else:
        print(format_comparison(table, a, b, args.threshold, args.strict))
    return 1 if len(table) and bool(table["regression"].any()) else 0
