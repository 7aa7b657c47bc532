"""Reading the real captures in tests (copied from ../shared/captures with their SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

from scapy.layers.l2 import GRE
from scapy.utils import rdpcap

from dmvpn.wire.cli import gre_header_len, ip_payload

CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures"


def capture_files() -> list[Path]:
    files = sorted(CAPTURES.glob("*.pcap*"))
    if not files:
        raise FileNotFoundError(f"no captures in {CAPTURES}")
    return files


def nhrp_frames(path: Path) -> list[tuple[int, bytes]]:
    """(frame index, NHRP bytes bounded by the IPv4 length) for every NHRP-in-GRE frame."""
    out = []
    for index, frame in enumerate(rdpcap(str(path))):
        gre = frame.getlayer(GRE)
        if gre is not None and gre.proto == 0x2001:
            out.append((index, ip_payload(gre.underlayer)[gre_header_len(gre) :]))
    return out
