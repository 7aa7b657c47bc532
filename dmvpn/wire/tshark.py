"""tshark as an independent oracle: Wireshark's NHRP dissector, read field by field."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from dmvpn.wire.wireshark import FIELD_KINDS, normalise_tshark_value


class TsharkMissing(RuntimeError):
    """tshark is not installed (bin/setup installs it)."""


def tshark_path() -> str:
    path = shutil.which("tshark")
    if path is None:
        raise TsharkMissing("tshark not found: run bin/setup (Debian package tshark)")
    return path


def tshark_nhrp_fields(pcap: str | Path, extra_fields: tuple[str, ...] = ()) -> list[dict[str, list[Any]]]:
    """For every frame of `pcap`, the NHRP fields tshark prints, all occurrences, normalised.

    Frames without NHRP give an empty dict, so the list index is the frame index.
    """
    names = list(FIELD_KINDS) + list(extra_fields)
    cmd = [tshark_path(), "-n", "-r", str(pcap), "-T", "json"]
    for name in names:
        cmd += ["-e", name]
    # "_ws.expert" and "_ws.malformed" tell whether Wireshark saw a broken packet.
    cmd += ["-e", "_ws.malformed", "-e", "_ws.expert.message"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"tshark failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
    frames = json.loads(proc.stdout or "[]")
    result = []
    for frame in frames:
        layers = frame.get("_source", {}).get("layers", {})
        result.append(
            {
                name: [normalise_tshark_value(name, v) for v in values]
                if name in FIELD_KINDS
                else values
                for name, values in layers.items()
            }
        )
    return result


def tshark_expert_messages(pcap: str | Path) -> list[list[str]]:
    """Per frame, the expert-info messages and malformed markers tshark reports."""
    frames = tshark_nhrp_fields(pcap)
    out = []
    for frame in frames:
        messages = list(frame.get("_ws.expert.message", []))
        if "_ws.malformed" in frame:
            messages.append("malformed")
        out.append(messages)
    return out
