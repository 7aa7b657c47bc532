"""`dmvpn profile record RUN`: turn a run's deviations into an expectations profile.
`dmvpn replay PCAP`: send a capture's packets to a freshly booted DUT and say what it did."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dmvpn.results import load_conformance

from .profile import NOT_BEHAVIOUR, ExpectationsProfile, Intermittent, KnownDeviation, ProfileError, dump_profile, load_profile

EXPECTATIONS = Path(__file__).resolve().parents[2] / "suites" / "expectations"


def register(subparsers: argparse._SubParsersAction) -> None:
    profile = subparsers.add_parser("profile", help="expectations profiles (known deviations per implementation)")
    sub = profile.add_subparsers(dest="profile_command", required=True, metavar="ACTION")
    record = sub.add_parser("record", help="record the deviations of a run as the implementation's profile")
    record.add_argument("runs", type=Path, nargs="+", help="run directories (reports/<run id>): their deviations are merged")
    record.add_argument("-o", "--output", type=Path, default=None, help="profile file (default: suites/expectations/<implementation>.yaml)")
    record.add_argument("--reason", action="append", metavar="CASE=TEXT",
                        help="why CASE deviates in some runs only (required for each such case the old profile has no reason for)")
    record.set_defaults(func=cmd_record)

    replay = subparsers.add_parser(
        "replay", help="send a capture's packets to a freshly booted DUT: does it answer, stay silent or crash?",
        description="Sends the IPv4 packets of PCAP (a case's reproducer, or any capture of packets to the DUT) to a "
                    "freshly booted DUT with their original spacing, then reads its health and log. Repeated on a new "
                    "DUT each time; a crash is deterministic only when every try crashed. Exit status: 0 no crash, "
                    "1 it crashed at least once, 2 the replay could not be done.")
    replay.add_argument("pcap", type=Path)
    replay.add_argument("--dut", default="lab", help="lab (default), inprocess or inprocess-spoke")
    replay.add_argument("--dut-faults", default="", help="with an in-process DUT: comma-separated faults")
    replay.add_argument("--testbed", type=Path, default=None, help="YAML testbed file for an external DUT")
    replay.add_argument("--role", choices=("hub", "spoke"), default=None,
                        help="the DUT the packets are for (default: the one they are addressed to)")
    replay.add_argument("--times", type=int, default=3, help="tries, each on a freshly booted DUT (default 3)")
    replay.add_argument("--json", action="store_true", help="one JSON object per try, then the summary")
    replay.set_defaults(func=cmd_replay)


def cmd_record(args: argparse.Namespace) -> int:
    """Record what the runs observed. Only DUT verdicts are recorded: a run with a case that could
    not test is refused (re-run it), and so are words of a failed precondition or a dead DUT. A case
    that deviated differently across runs keeps every observation; one that deviated in some runs
    and conformed in others is intermittent, with a reason (--reason, or the old profile's) and the
    count."""
    reasons = {}
    for item in args.reason or []:
        case_id, sep, text = item.partition("=")
        if not sep or not text.strip():
            print(f"dmvpn profile record: --reason takes CASE=TEXT, not {item!r}", file=sys.stderr)
            return 2
        reasons[case_id.strip()] = text.strip()
    frames = []
    for run in args.runs:
        try:
            frame = load_conformance(run)
        except FileNotFoundError:
            print(f"dmvpn profile record: {run}: no conformance results", file=sys.stderr)
            return 2
        untested = frame[frame["verdict"].isin(["error", "inconclusive"])]
        if not untested.empty:
            print(f"dmvpn profile record: {run}: {len(untested)} cases could not test ({', '.join(untested['case_id'])}); "
                  "a profile is recorded from complete runs only", file=sys.stderr)
            return 2
        frames.append((Path(run).resolve().name, frame))
    implementation = str(frames[0][1]["implementation"].iloc[0])
    others = sorted({str(f["implementation"].iloc[0]) for _, f in frames} - {implementation})
    if others:
        print(f"dmvpn profile record: the runs are of different implementations ({implementation}, {', '.join(others)})", file=sys.stderr)
        return 2
    output = args.output or EXPECTATIONS / f"{implementation}.yaml"
    old = None
    if output.exists():
        try:
            old = load_profile(output)
        except ProfileError as exc:
            print(f"dmvpn profile record: {exc}", file=sys.stderr)
            return 2
    observed: dict[str, list[str]] = {}
    seen_in: dict[str, list[str]] = {}
    for run_id, frame in frames:
        for row in frame.itertuples(index=False):
            if row.verdict not in ("deviates", "known-deviation", "crashes"):
                continue
            words = str(row.observed)
            if NOT_BEHAVIOUR.search(words) or not words:
                print(f"dmvpn profile record: {run_id}: {row.case_id}: {words!r} is not a behaviour of the DUT", file=sys.stderr)
                return 2
            if words not in observed.setdefault(row.case_id, []):
                observed[row.case_id].append(words)
            seen_in.setdefault(row.case_id, []).append(run_id)
    deviations, missing_reason = {}, []
    for case_id, words in observed.items():
        kept = old.deviation(case_id) if old else None
        runs_seen = seen_in[case_id]
        intermittent = None
        if len(runs_seen) < len(frames):
            reason = reasons.get(case_id) or (kept.intermittent_as.reason if kept and kept.intermittent_as else "")
            if not reason:
                missing_reason.append(case_id)
            intermittent = Intermittent(reason, len(runs_seen), len(frames))
        deviations[case_id] = KnownDeviation(
            case_id, tuple(words), kept.upstream if kept else "", kept.note if kept else "", intermittent, tuple(runs_seen),
        )
    if missing_reason:
        print("dmvpn profile record: deviations seen in only some runs need a reason (--reason CASE=TEXT): "
              + ", ".join(f"{c} ({deviations[c].intermittent_as.seen} of {len(frames)})" for c in missing_reason), file=sys.stderr)
        return 2
    header = "".join(f"# {line}\n" for line in (old_header(output) or [
        f"{implementation}: its deviations from RFC 2332 and the drafts, recorded by `dmvpn profile record`",
        "from complete runs (observed words are matched exactly; seen_in names the runs)."]))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(dump_profile(ExpectationsProfile(implementation, deviations), header))
    gone = sorted(set(old.deviations) - set(deviations)) if old else []
    flaky = sorted(c for c, d in deviations.items() if d.intermittent or len(d.observed) > 1)
    print(f"recorded {len(deviations)} deviations of {implementation} from {len(frames)} runs in {output}"
          + (f"; inconsistent across runs: {', '.join(flaky)}" if flaky else "")
          + (f"; no longer deviating: {', '.join(gone)}" if gone else ""))
    return 0


def old_header(path: Path) -> list[str]:
    """The comment lines at the top of an existing profile (kept when it is re-recorded)."""
    if not path.exists():
        return []
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    return lines


def cmd_replay(args: argparse.Namespace) -> int:
    import json

    from dmvpn.dut.select import open_duts

    from .replay import read_packets, replay

    try:
        packets = read_packets(args.pcap)
    except (OSError, ValueError) as exc:
        print(f"dmvpn replay: {exc}", file=sys.stderr)
        return 2
    if not packets:
        print(f"dmvpn replay: {args.pcap}: no IPv4 packets", file=sys.stderr)
        return 2
    if args.times < 1:
        print("dmvpn replay: --times must be at least 1", file=sys.stderr)
        return 2
    try:
        duts = open_duts(args.dut, args.dut_faults.split(","), args.testbed, progress=lambda m: print(f"   lab: {m}", file=sys.stderr))
    except Exception as exc:
        print(f"dmvpn replay: no DUT: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    try:
        dut = _replay_target(duts, packets, args.role)
        if dut is None:
            print(f"dmvpn replay: no DUT {'plays ' + args.role if args.role else 'is addressed by the capture'}", file=sys.stderr)
            return 2
        outcomes = []
        for number in range(1, args.times + 1):
            if number > 1:
                dut.recover(force=True)  # every try on a freshly booted DUT (the first one is)
            result = replay(dut, duts.link(dut), packets)
            outcomes.append(result)
            if args.json:
                print(json.dumps({"try": number, "kind": result.kind, "signature": result.signature, "answers": result.answers, "sent": result.sent}))
            else:
                print(f"try {number}/{args.times}: {result.words()}")
        crashed = [o for o in outcomes if o.kind == "crashes"]
        signatures = sorted({o.signature for o in crashed})
        summary = f"{args.pcap}: crashed {len(crashed)}/{len(outcomes)} fresh DUTs ({dut.info.name})"
        if crashed:
            summary += f"; signature{'s' if len(signatures) > 1 else ''}: {' | '.join(signatures)}"
            if len(crashed) == len(outcomes) and len(signatures) == 1:
                summary += " (deterministic)"
        print(json.dumps({"summary": summary, "crashed": len(crashed), "tries": len(outcomes), "signatures": signatures}) if args.json else summary)
        return 1 if crashed else 0
    finally:
        duts.close()


def _replay_target(duts, packets, role: str | None):
    if role is not None:
        return duts.for_role(role)
    destinations = {".".join(str(b) for b in p[16:20]) for _, p in packets}
    for dut in duts.duts.values():
        if dut.info.nbma in destinations:
            return dut
    return None
