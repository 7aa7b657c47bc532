"""`dmvpn craft` and `dmvpn decode`: the wire layer from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterator

from scapy.error import Scapy_Exception
from scapy.layers.inet import IP
from scapy.layers.l2 import GRE
from scapy.utils import PcapReader, wrpcap

from dmvpn.wire import constants as C
from dmvpn.wire.catalog import broken_examples, valid_examples
from dmvpn.wire.decode import Decoded, decode_nhrp
from dmvpn.wire.wireshark import flatten, wireshark_fields


def register(subparsers: argparse._SubParsersAction) -> None:
    craft = subparsers.add_parser("craft", help="write example NHRP packets to a pcap")
    craft.add_argument("--all", action="store_true", help="one valid packet of every type 1-8, every extension")
    craft.add_argument("--broken", action="store_true", help="add deliberately broken variants")
    craft.add_argument("-o", "--output", required=True, type=Path, help="pcap file to write")
    craft.set_defaults(func=cmd_craft)

    decode = subparsers.add_parser("decode", help="decode every NHRP packet in a pcap/pcapng")
    decode.add_argument("file", type=Path)
    decode.add_argument("--json", action="store_true", help="one JSON object per NHRP packet, Wireshark field names")
    decode.set_defaults(func=cmd_decode)


def cmd_craft(args: argparse.Namespace) -> int:
    if not (args.all or args.broken):
        print("dmvpn craft: say what to craft (--all and/or --broken)", file=sys.stderr)
        return 2
    examples = (valid_examples() if args.all else []) + (broken_examples() if args.broken else [])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    wrpcap(str(args.output), [e.packet for e in examples])
    for index, example in enumerate(examples, 1):
        note = f"  (broken: {example.defect})" if example.defect else ""
        print(f"{index:3d} {example.name}{note}", file=sys.stderr)
    print(f"wrote {len(examples)} packets to {args.output}", file=sys.stderr)
    return 0


def iter_nhrp(path: Path) -> Iterator[tuple[int, bytes]]:
    """(frame number, NHRP bytes) for every frame carrying NHRP in GRE 0x2001 or IP protocol 54."""
    with PcapReader(str(path)) as reader:
        for number, frame in enumerate(reader, 1):
            gre = frame.getlayer(GRE)
            ip = frame.getlayer(IP)
            if gre is not None and gre.proto == C.GRE_PROTO_NHRP and isinstance(gre.underlayer, IP):
                yield number, ip_payload(gre.underlayer)[gre_header_len(gre) :]
            elif ip is not None and ip.proto == C.IPPROTO_NARP and gre is None:
                yield number, ip_payload(ip)


def ip_payload(ip: IP) -> bytes:
    """What the IPv4 header's total length covers after the header (link padding excluded)."""
    raw = bytes(ip)
    return raw[ip.ihl * 4 : ip.len if ip.len else len(raw)]


def gre_header_len(gre: GRE) -> int:
    """RFC 2784/2890 header length: 4, +4 with checksum or routing, +4 with key, +4 with sequence."""
    return 4 + 4 * bool(gre.chksum_present or gre.routing_present) + 4 * gre.key_present + 4 * gre.seqnum_present


def decoded_record(number: int, decoded: Decoded, raw: bytes) -> dict[str, Any]:
    record: dict[str, Any] = {"frame.number": number}
    if decoded.packet is not None:
        record.update(flatten(wireshark_fields(decoded.packet, raw)))
    if decoded.problems:
        record["dmvpn.problems"] = decoded.problems
    if decoded.remainder:
        record["dmvpn.remainder"] = decoded.remainder.hex()
    return record


def cmd_decode(args: argparse.Namespace) -> int:
    if not args.file.exists():
        print(f"dmvpn decode: {args.file}: no such file", file=sys.stderr)
        return 2
    count = 0
    try:
        for number, raw in iter_nhrp(args.file):
            count += 1
            decoded = decode_nhrp(raw)
            if args.json:
                print(json.dumps(decoded_record(number, decoded, raw)))
            else:
                print(_summary(number, decoded))
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        return 0
    except (Scapy_Exception, OSError, EOFError) as exc:
        print(f"dmvpn decode: {args.file}: not a readable pcap/pcapng ({exc})", file=sys.stderr)
        return 2
    if not args.json:
        print(f"{count} NHRP packets", file=sys.stderr)
    return 0


def _summary(number: int, decoded: Decoded) -> str:
    packet = decoded.packet
    if packet is None:
        return f"{number:5d}  undecodable: {'; '.join(decoded.problems)}"
    body = packet.payload
    kind = body.name if body else f"NHRP type {packet.op_type}"
    parts = [f"{number:5d}  {kind}"]
    if hasattr(body, "reqid"):
        parts.append(f"reqid={body.reqid}")
    if hasattr(body, "error_code"):
        parts.append(f"code={body.error_code}")
    if hasattr(body, "src_nbma"):
        parts.append(f"nbma={body.src_nbma} {body.src_proto} -> {body.dst_proto}")
    for cie in getattr(body, "cies", [])[:4]:
        if hasattr(cie, "code"):
            parts.append(f"[code {cie.code} plen {cie.prefix_len} ht {cie.holding_time}]")
    if decoded.problems:
        parts.append("MALFORMED: " + "; ".join(decoded.problems))
    return "  ".join(parts)
