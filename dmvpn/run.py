"""`dmvpn run`: the main job. Certify the DUT (the embedded FRR lab by default, or a testbed).

Parts, in order: the wire self-check (every message type crafted, decoded and held against
tshark), the conformance suites (pytest, with a line per case as it completes) and the performance
benchmarks. Everything lands in one reports/<run id>/ with report.html.

Exit status: 0 when every case ran and the DUT behaved as its expectations profile records
(regression semantics: a certification lists its deviations in the report either way), 1 when a
case deviated unexpectedly (or a recorded deviation is gone), 2 when the run could not be done,
3 when nothing failed but some case could not test (inconclusive: the certification is incomplete).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from dmvpn.results import new_run_dir
from dmvpn.lab.implementations import DEFAULT as DEFAULT_IMPLEMENTATION
from dmvpn.lab.implementations import names as implementation_names

SUITES = Path(__file__).resolve().parent.parent / "suites"


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser("run", help="the main job: certify the DUT (embedded lab by default)")
    run.add_argument("--suite", choices=("all", "wire", "conformance", "performance"), default="all")
    run.add_argument("--testbed", type=Path, default=None, help="YAML testbed file for an external DUT")
    run.add_argument("--implementation", default=None, metavar="NAME", choices=(*implementation_names(), "all"),
                     help=f"the embedded lab's implementation: {', '.join(implementation_names())} "
                          "(default frr-8.4; frr-10.3 builds its root once, about 40 s), or all: the conformance "
                          "suites against each, with a matrix of cases by implementation in the report")
    run.add_argument("--mode", choices=("regression", "certify"), default="regression",
                     help="regression: fail on behaviour the expectations profile does not record; certify: fail on every deviation")
    run.add_argument("--reports", type=Path, default=None, help="where runs land (default: reports/)")
    run.add_argument("--scale", action="store_true", help="performance: the long scale runs too")
    run.add_argument("--shuffle", default=None, metavar="SEED", help="conformance: run the cases in an order drawn from SEED ('random' for a new one)")
    run.add_argument("--reproduce", type=int, default=3, metavar="N", help="conformance: replay a crashing case on N freshly booted DUTs (default 3)")
    run.add_argument("--dry-run", action="store_true",
                     help="with --testbed: check the file and its interface, print what would be sent and to whom, send nothing")
    run.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    if args.dry_run and args.testbed is None:
        print("dmvpn run: --dry-run needs --testbed FILE (the embedded lab sends only inside its own namespaces)", file=sys.stderr)
        return 2
    if args.testbed is not None:
        from dmvpn.dut.testbed import TestbedError, load
        from dmvpn.dut.testbed.check import resolve

        if args.dry_run:
            from dmvpn.testbed_cli import check

            return check(args.testbed, prog="dmvpn run")
        try:
            resolve(load(args.testbed))  # the file, the namespace, the interface, the route: before anything is sent
        except TestbedError as exc:
            print(f"dmvpn run: {exc}", file=sys.stderr)
            return 2
    run_dir = new_run_dir(args.reports)
    print(f"dmvpn run: results in {run_dir}")
    statuses = []
    if args.suite in ("all", "wire"):
        statuses.append(_part("wire self-check", lambda: wire_selfcheck(run_dir)))
    others: list[Path] = []
    if args.suite in ("all", "conformance"):
        if args.implementation == "all" and args.testbed is None:
            # one sub-run per implementation (its own results and evidence); one report over all
            for name in implementation_names():
                sub = run_dir / name
                sub.mkdir()
                others.append(sub)
                statuses.append(_part(f"conformance: {name}", lambda sub=sub, name=name: run_conformance(
                    sub, None, args.mode, args.shuffle, args.reproduce, implementation=name)))
        else:
            statuses.append(_part("conformance", lambda: run_conformance(run_dir, args.testbed, args.mode, args.shuffle, args.reproduce,
                                                                          implementation=args.implementation)))
    if args.suite in ("all", "performance"):
        if args.implementation not in (None, DEFAULT_IMPLEMENTATION) and args.testbed is None:
            print(f"dmvpn run: the benchmarks boot {DEFAULT_IMPLEMENTATION} labs (--implementation applies to conformance so far)")
        statuses.append(_part("performance", lambda: run_performance_part(run_dir, args.testbed, scale=args.scale)))
    from dmvpn.results.report import render_report

    report = render_report(run_dir, others)
    print(f"dmvpn run: report {report}")
    return overall_status(statuses)


def overall_status(statuses: list[int]) -> int:
    """Failed (1) over could not run (2) over incomplete (3) over ok (0)."""
    for status in (1, 2, 3):
        if status in statuses:
            return status
    return 0


def _part(name: str, fn) -> int:
    start = time.monotonic()
    print(f"== {name}")
    try:
        status = fn()
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # one part failing to run does not hide the others' results
        print(f"   {name} could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
        status = 2
    words = {0: "ok", 1: "FAILED", 3: "INCOMPLETE"}.get(status, "could not run")
    print(f"== {name}: {words} ({time.monotonic() - start:.0f} s)")
    return status


# -- wire -------------------------------------------------------------------------------------


def wire_selfcheck(run_dir: Path) -> int:
    """Craft every message type, decode it back and hold both against tshark."""
    from scapy.layers.inet import IP
    from scapy.layers.l2 import GRE
    from scapy.utils import wrpcap

    from dmvpn.wire.catalog import broken_examples, valid_examples
    from dmvpn.wire.cli import decoded_record, gre_header_len, ip_payload
    from dmvpn.wire.decode import decode_nhrp
    from dmvpn.wire.nhrp import NHRP
    from dmvpn.wire.tshark import tshark_nhrp_fields
    from dmvpn.wire.wireshark import wireshark_fields

    def nhrp_bytes(packet) -> bytes:
        gre = IP(bytes(packet)).getlayer(GRE)
        return ip_payload(gre.underlayer)[gre_header_len(gre):]

    wire_dir = run_dir / "wire"
    wire_dir.mkdir()
    valid, broken = valid_examples(), broken_examples()
    examples = valid + broken
    pcap = wire_dir / "crafted.pcap"
    wrpcap(str(pcap), [e.packet for e in examples])
    reference = tshark_nhrp_fields(pcap)
    failures: list[str] = []
    with open(wire_dir / "decoded.jsonl", "w") as out:
        for number, (example, frame) in enumerate(zip(examples, reference), 1):
            data = nhrp_bytes(example.packet)
            decoded = decode_nhrp(data)
            out.write(json.dumps({"name": example.name, **decoded_record(number, decoded, data)}) + "\n")
            tshark_broken = "_ws.malformed" in frame or bool(frame.get("_ws.expert.message"))
            if example.defect:
                if not (tshark_broken and decoded.malformed):
                    failures.append(f"{example.name}: broken on purpose but tshark={tshark_broken} decode={decoded.malformed}")
                continue
            expected = {k: v for k, v in frame.items() if k.startswith("nhrp.")}
            mine = wireshark_fields(NHRP(data), data)
            if tshark_broken or decoded.malformed:
                failures.append(f"{example.name}: flagged as broken (tshark={tshark_broken}, decode={decoded.problems})")
            elif mine != expected:
                diff = sorted(k for k in set(mine) | set(expected) if mine.get(k) != expected.get(k))
                failures.append(f"{example.name}: differs from tshark in {', '.join(diff)}")
    summary = [f"wire layer vs tshark: {len(examples) - len(failures)}/{len(examples)} packets agree", *failures]
    (wire_dir / "summary.txt").write_text("\n".join(summary) + "\n")
    print("   " + "\n   ".join(summary))
    return 0 if not failures else 1


# -- conformance ------------------------------------------------------------------------------


def run_conformance(run_dir: Path, testbed: Path | None, mode: str, shuffle: str | None = None, reproduce: int = 3,
                    implementation: str | None = None, extra: list[str] = ()) -> int:
    """The suites through pytest; the status comes from the cases' outcomes (one policy:
    dmvpn.conformance.outcome), not from pytest's exit code."""
    import pytest

    from dmvpn.conformance.outcome import EXIT_NOT_RUN, Outcome, exit_status
    from dmvpn.results import load_conformance

    argv = [str(SUITES / "conformance"), "-o", "addopts=", "--run-dir", str(run_dir), "--mode", mode, "--progress",
            "-p", "no:cacheprovider", "-p", "no:terminal", "--reproduce", str(reproduce), "--no-report"]
    if testbed is not None:
        argv += ["--testbed", str(testbed)]
    elif implementation is not None:
        argv += ["--implementation", implementation]
    if shuffle is not None:
        argv += ["--shuffle", shuffle]
    argv += list(extra)
    code = pytest.main(argv)
    try:
        frame = load_conformance(run_dir)
    except FileNotFoundError:
        return EXIT_NOT_RUN
    if code not in (0, 1) or frame.empty:
        return EXIT_NOT_RUN
    outcomes = [Outcome(o) for o in frame["outcome"]]
    counts = frame["verdict"].value_counts()
    print("   verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    status = exit_status(outcomes)
    if status == 3:
        print(f"   certification incomplete: {sum(o is Outcome.INCOMPLETE for o in outcomes)} cases could not test")
    return status


# -- performance ------------------------------------------------------------------------------


def run_performance_part(run_dir: Path, testbed: Path | None, scale: bool) -> int:
    from dmvpn.perf import run_performance

    if testbed is not None:
        print("   performance runs need the embedded lab (for external gear: dmvpn bench, or TRex with profiles/)")
        return 0
    frame = run_performance(run_dir, scale=scale, progress=lambda message: print(f"   {message}", flush=True))
    failed = frame.attrs.get("failed", [])
    for name in failed:
        print(f"   benchmark failed: {name}", file=sys.stderr)
    return 2 if failed else 0
