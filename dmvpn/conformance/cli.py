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
    record.add_argument("run", type=Path, help="a run directory (reports/<run id>)")
    record.add_argument("-o", "--output", type=Path, default=None, help="profile file (default: suites/expectations/<implementation>.yaml)")
    record.set_defaults(func=cmd_record)


def cmd_record(args: argparse.Namespace) -> int:
    try:
        frame = load_conformance(args.run)
    except FileNotFoundError:
        print(f"dmvpn profile record: {args.run}: no conformance results", file=sys.stderr)
        return 2
    if frame.empty:
        print(f"dmvpn profile record: {args.run}: no cases", file=sys.stderr)
        return 2
    errors = frame[frame["verdict"] == "error"]
    if not errors.empty:
        print(f"dmvpn profile record: {len(errors)} cases could not run ({', '.join(errors['case_id'])}): fix the run first", file=sys.stderr)
        return 2
    implementation = str(frame["implementation"].iloc[0])
    output = args.output or EXPECTATIONS / f"{implementation}.yaml"
    old = None
    if output.exists():
        try:
            old = load_profile(output)
        except ProfileError as exc:
            print(f"dmvpn profile record: {exc}", file=sys.stderr)
            return 2
    deviations = {}
    for row in frame[frame["verdict"].isin(["deviates", "known-deviation"])].itertuples(index=False):
        kept = old.deviation(row.case_id) if old else None
        deviations[row.case_id] = KnownDeviation(
            row.case_id, str(row.observed), kept.upstream if kept else "", kept.note if kept else ""
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(dump_profile(ExpectationsProfile(implementation, deviations)))
    gone = sorted(set(old.deviations) - set(deviations)) if old else []
    print(f"recorded {len(deviations)} deviations of {implementation} in {output}" + (f"; no longer deviating: {', '.join(gone)}" if gone else ""))
    return 0
