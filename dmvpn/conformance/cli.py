"""`dmvpn profile record RUN`: turn a run's deviations into an expectations profile."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dmvpn.results import load_conformance

from .profile import ExpectationsProfile, KnownDeviation, ProfileError, dump_profile, load_profile

EXPECTATIONS = Path(__file__).resolve().parents[2] / "suites" / "expectations"


def register(subparsers: argparse._SubParsersAction) -> None:
    profile = subparsers.add_parser("profile", help="expectations profiles (known deviations per implementation)")
    sub = profile.add_subparsers(dest="profile_command", required=True, metavar="ACTION")
    record = sub.add_parser("record", help="record the deviations of a run as the implementation's profile")
    record.add_argument("runs", type=Path, nargs="+", help="run directories (reports/<run id>): their deviations are merged")
    record.add_argument("-o", "--output", type=Path, default=None, help="profile file (default: suites/expectations/<implementation>.yaml)")
    record.set_defaults(func=cmd_record)


def cmd_record(args: argparse.Namespace) -> int:
    """Record what the runs observed. A case that deviated differently across runs keeps every
    observation; one that deviated in some runs and conformed in others is marked intermittent."""
    frames = []
    for run in args.runs:
        try:
            frame = load_conformance(run)
        except FileNotFoundError:
            print(f"dmvpn profile record: {run}: no conformance results", file=sys.stderr)
            return 2
        errors = frame[frame["verdict"] == "error"]
        if not errors.empty:
            print(f"dmvpn profile record: {run}: {len(errors)} cases could not run ({', '.join(errors['case_id'])})", file=sys.stderr)
            return 2
        frames.append(frame)
    implementation = str(frames[0]["implementation"].iloc[0])
    output = args.output or EXPECTATIONS / f"{implementation}.yaml"
    old = None
    if output.exists():
        try:
            old = load_profile(output)
        except ProfileError as exc:
            print(f"dmvpn profile record: {exc}", file=sys.stderr)
            return 2
    observed: dict[str, list[str]] = {}
    conformed: set[str] = set()
    for frame in frames:
        for row in frame.itertuples(index=False):
            if row.verdict in ("deviates", "known-deviation"):
                words = observed.setdefault(row.case_id, [])
                if str(row.observed) not in words:
                    words.append(str(row.observed))
            elif row.verdict == "conforms":
                conformed.add(row.case_id)
    deviations = {}
    for case_id, words in observed.items():
        kept = old.deviation(case_id) if old else None
        deviations[case_id] = KnownDeviation(
            case_id, tuple(words), kept.upstream if kept else "", kept.note if kept else "",
            intermittent=case_id in conformed or bool(kept and kept.intermittent),
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(dump_profile(ExpectationsProfile(implementation, deviations)))
    gone = sorted(set(old.deviations) - set(deviations)) if old else []
    flaky = sorted(c for c, d in deviations.items() if d.intermittent or len(d.observed) > 1)
    print(f"recorded {len(deviations)} deviations of {implementation} in {output}"
          + (f"; inconsistent across runs: {', '.join(flaky)}" if flaky else "")
          + (f"; no longer deviating: {', '.join(gone)}" if gone else ""))
    return 0
