"""`dmvpn run`: the main job.

Today it certifies the project's own wire layer end to end: craft every message type, decode it
back, and hold both against Wireshark's dissector (tshark). The conformance and performance suites
against the embedded lab join here as they land.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from scapy.utils import wrpcap

from dmvpn.wire.catalog import broken_examples, valid_examples
from dmvpn.wire.cli import decoded_record, gre_header_len, ip_payload
from dmvpn.wire.decode import decode_nhrp
from dmvpn.wire.nhrp import NHRP
from dmvpn.wire.tshark import TsharkMissing, tshark_nhrp_fields
from dmvpn.wire.wireshark import wireshark_fields

REPORTS = Path(__file__).resolve().parent.parent / "reports"


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser("run", help="the main job: craft, decode and validate against tshark")
    run.add_argument("--reports", type=Path, default=REPORTS, help="where runs land (default: reports/)")
    run.set_defaults(func=cmd_run)


def new_run_dir(reports: Path) -> Path:
    """reports/<run id>/, with reports/latest pointing at it."""
    run_id = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
    run_dir = reports / run_id
    run_dir.mkdir(parents=True)
    latest = reports / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(run_id)
    return run_dir


def _nhrp_bytes(packet) -> bytes:
    from scapy.layers.inet import IP
    from scapy.layers.l2 import GRE

    gre = IP(bytes(packet)).getlayer(GRE)
    return ip_payload(gre.underlayer)[gre_header_len(gre) :]


def cmd_run(args: argparse.Namespace) -> int:
    run_dir = new_run_dir(args.reports)
    valid, broken = valid_examples(), broken_examples()
    examples = valid + broken
    pcap = run_dir / "crafted.pcap"
    wrpcap(str(pcap), [e.packet for e in examples])
    print(f"[1/3] crafted {len(valid)} valid and {len(broken)} broken packets -> {pcap}")
    try:
        reference = tshark_nhrp_fields(pcap)
    except TsharkMissing as exc:
        print(f"dmvpn run: {exc}", file=sys.stderr)
        return 2
    print("[2/3] decoded them and asked tshark")
    failures: list[str] = []
    with open(run_dir / "decoded.jsonl", "w") as out:
        for number, (example, frame) in enumerate(zip(examples, reference), 1):
            data = _nhrp_bytes(example.packet)
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
    verdict = "PASS" if not failures else "FAIL"
    summary = [f"wire layer vs tshark: {len(examples) - len(failures)}/{len(examples)} agree -> {verdict}", *failures]
    (run_dir / "summary.txt").write_text("\n".join(summary) + "\n")
    print("[3/3] " + "\n      ".join(summary))
    print(f"results in {run_dir}")
    return 0 if not failures else 1
