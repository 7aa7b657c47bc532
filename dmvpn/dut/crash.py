"""Crash signatures from a daemon's log: the signal and the top frames of its backtrace.

FRR daemons log a crash as (libfrr's `core_handler`):

    NHRP: Received signal 11 at 1796154537 (si_addr 0x2d4, PC 0x40313308); aborting...
    NHRP: /usr/lib/x86_64-linux-gnu/frr/libfrr.so.0(zlog_backtrace_sigsafe+0x6f) [0x400d851f]
    NHRP: /usr/lib/x86_64-linux-gnu/frr/libfrr.so.0(zlog_signal+0xf5) [0x400d8725]
    NHRP: /usr/lib/x86_64-linux-gnu/frr/libfrr.so.0(+0xce791) [0x40105791]      <- core_handler
    NHRP: /lib/x86_64-linux-gnu/libc.so.6(+0x3c050) [0x40253050]                 <- signal return
    NHRP: /usr/lib/frr/nhrpd(nhrp_packet_recvraw+0x...) [...]                     <- where it crashed
    ...

FRR 10 (libunwind) writes one frame per line, `symbol+0xoff  PC  SP  object (mapped at 0xBASE)`, and
marks the signal return with a `---- signal ----` line; the frames after it are read the same way.

The signature keeps the signal and the first frames after the signal return, as `symbol` or
`object+offset` (offsets into a PIE object are the same on every run of the same build), so that
the same bug gives the same words in every run and a profile can record it.
"""

from __future__ import annotations

import re

_SIGNAL = re.compile(r"Received signal (\d+)")
_FRAME = re.compile(r"(?P<object>[^\s(]+)\((?P<symbol>[^)+]*)(?P<offset>\+0x[0-9a-f]+)?\)\s*\[0x[0-9a-f]+\]")
#: frames of the crash handler itself
_HANDLER = {"zlog_backtrace_sigsafe", "zlog_signal", "core_handler"}

SIGNAL_NAMES = {4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 11: "SIGSEGV"}


def _frame_words(match: re.Match) -> str:
    symbol = match.group("symbol")
    obj = match.group("object").rsplit("/", 1)[-1]
    return symbol if symbol else f"{obj}{match.group('offset') or ''}"


_UNWIND = re.compile(r"(?P<symbol>\S+)\s+(?P<pc>[0-9a-f]+)\s+[0-9a-f]+\s+(?P<object>\S+)\s+\(mapped at 0x(?P<base>[0-9a-f]+)\)")


def _unwind_frames(lines: list[str]) -> list[str] | None:
    """FRR 10's frames after its `---- signal ----` marker, or None when the log has no marker."""
    marker = next((i for i, line in enumerate(lines) if "---- signal ----" in line), None)
    if marker is None:
        return None
    out = []
    for line in lines[marker + 1 :]:
        match = _UNWIND.search(line)
        if match is None:
            break
        symbol = match.group("symbol")
        if symbol == "?":
            offset = int(match.group("pc"), 16) - int(match.group("base"), 16)
            out.append(f"{match.group('object').rsplit('/', 1)[-1]}+0x{offset:x}")
        else:
            out.append(symbol.split("+", 1)[0])
    return out


def frr_crash_signature(log: str, frames: int = 3) -> str | None:
    """"SIGSEGV in nhrp_packet_recvraw < nhrp_vc_... < ..." for the last crash in `log`, or None."""
    start = None
    for match in _SIGNAL.finditer(log):
        start = match
    if start is None:
        return None
    signal = int(start.group(1))
    lines = log[start.end():].splitlines()[1:]
    name = SIGNAL_NAMES.get(signal, f"signal {signal}")
    unwound = _unwind_frames(lines)
    if unwound is not None:
        return f"{name} in {' < '.join(unwound[:frames])}" if unwound else name
    found: list[re.Match] = []
    for line in lines:
        match = _FRAME.search(line)
        if match is None:
            if found:
                break
            continue
        found.append(match)
    # Skip the handler's frames and the signal return (the first libc frame after them).
    index = 0
    while index < len(found) and (found[index].group("symbol") in _HANDLER or "libfrr" in found[index].group("object")):
        index += 1
    if index < len(found) and "libc" in found[index].group("object") and not found[index].group("symbol"):
        index += 1
    top = [_frame_words(m) for m in found[index : index + frames]]
    return f"{name} in {' < '.join(top)}" if top else name
