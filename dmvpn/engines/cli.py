"""`dmvpn bench NAME`: the engines' benchmarks (see dmvpn.engines.bench)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

BENCHES = ("build", "engine")


def register(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks: packet building, local engine vs trafgen")
    bench.add_argument("name", choices=BENCHES, help="build: template vs scapy; engine: local engine vs trafgen -P 1 (root)")
    bench.add_argument("--json", action="store_true", help="one JSON object per line: bench, metric, value, unit, parameters")
    bench.add_argument("--iterations", type=int, default=20000, help="build: template builds timed (scapy: 1/50 of it, >= 10)")
    bench.add_argument("--count", type=int, default=1_000_000, help="engine: packets per sender per repetition")
    bench.add_argument("--repeat", type=int, default=1, help="repetitions (engine: each runs all senders)")
    bench.add_argument("--batch", type=int, default=256, help="engine: sendmmsg batch size")
    bench.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from dmvpn.engines import bench

    def records() -> Any:
        if args.name == "build":
            for rep in range(max(1, args.repeat)):
                for rec in bench.bench_build(args.iterations):
                    yield {**rec, "repetition": rep}
        else:
            yield from bench.bench_engine(count=args.count, repeat=max(1, args.repeat), batch=args.batch)

    try:
        for rec in records():
            if args.json:
                print(json.dumps(rec), flush=True)
            else:
                params = ", ".join(f"{k}={v}" for k, v in rec.items() if k not in ("bench", "metric", "value", "unit"))
                print(f"{rec['bench']:<7} {rec['metric']:<26} {rec['value']:>14} {rec['unit']:<4} ({params})", flush=True)
    except (PermissionError, FileNotFoundError) as exc:
        print(f"dmvpn bench {args.name}: {exc}", file=sys.stderr)
        return 2
    return 0
