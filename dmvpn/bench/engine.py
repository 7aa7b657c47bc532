"""engine: one frame (the registration_storm profile's spoke-0 Registration Request, 110 bytes)
sent `count` times over a veth pair between two namespaces this benchmark creates and deletes
(dmvpn-bench-*), in the same run by `trafgen -P 1` (netsniff-ng, TX_RING, qdisc bypass) and by the
local engine with 1 and with 2 workers (sendmmsg, qdisc bypass).

Packets are counted on the receiving veth (`ip -s -j link`), rates are those counts over the wall
time of each whole send command (tool start to exit, setup included for both). Metrics:
trafgen_pps, local_pps, local_vs_trafgen_ratio, local_2w_pps, two_vs_one_worker_ratio. Needs root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dmvpn.engines.veth import VethPair, veth_pair

from .common import PROFILES, rx_packets, settle
from .spec import Benchmark, Metric, Option, Row, record


def bench_frame() -> bytes:
    """The frame both senders send: spoke 0's Registration Request from the registration_storm profile."""
    from dmvpn.engines.loader import load_profile
    from dmvpn.engines.local import stream_base_packet

    streams = load_profile(PROFILES / "registration_storm.py", spokes=1).to_json()
    return stream_base_packet(streams[0])


def trafgen_config(frame: bytes) -> str:
    """trafgen's packet configuration for one fixed frame: `{ 0x.., 0x.., ... }`."""
    return "{ " + ", ".join(f"0x{b:02x}" for b in frame) + " }\n"


def run_trafgen(link: VethPair, cfg: str, count: int, cpus: int = 1) -> tuple[int, float]:
    """(packets received on the peer, wall seconds) for `trafgen -P cpus -n count`."""
    before = rx_packets(link)
    t = time.monotonic()
    proc = subprocess.Popen(
        ["ip", "netns", "exec", link.tx_ns, "trafgen", "-o", link.tx_if, "-i", cfg, "-P", str(cpus),
         "-n", str(count), "--no-sock-mem", "--notouch-irq", "-C"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=max(30.0, count / 20000))
    except subprocess.TimeoutExpired:
        proc.kill()  # our own child, by its pid
        proc.communicate()
        raise
    wall = time.monotonic() - t
    if proc.returncode != 0:
        raise RuntimeError(f"trafgen failed ({proc.returncode}): {err.strip() or out.strip()}")
    return settle(link, before, count), wall


def run_local(link: VethPair, frame: bytes, count: int, workers: int, batch: int = 256) -> tuple[int, float, Any]:
    """(packets received on the peer, wall seconds of LocalEngine.run, the RunResult)."""
    from dmvpn.engines import stl_shim as S
    from dmvpn.engines.local import LocalEngine

    stream = S.STLStream(packet=S.STLPktBuilder(pkt_buffer=frame), mode=S.STLTXSingleBurst(total_pkts=count, pps=1e9))
    engine = LocalEngine(
        link.tx_if, netns=link.tx_ns, workers=workers, batch=batch, src_mac=None,
        max_seconds=max(30.0, count / 20000), max_packets=count,
    )  # fmt: skip
    before = rx_packets(link)
    t = time.monotonic()
    result = engine.run([stream])
    wall = time.monotonic() - t
    return settle(link, before, count), wall, result


def bench_engine(count: int = 1_000_000, repeat: int = 1, batch: int = 256) -> Iterator[Row]:
    """local engine (1 and 2 workers) vs trafgen -P 1, same frame, same veth, same run."""
    if os.geteuid() != 0:
        raise PermissionError("bench engine needs root (network namespaces, AF_PACKET)")
    if not shutil.which("trafgen"):
        raise FileNotFoundError("trafgen (Debian package netsniff-ng) is not installed")
    frame = bench_frame()
    with tempfile.TemporaryDirectory(prefix="dmvpn-bench-") as tmp, veth_pair("dmvpn-bench-") as link:
        cfg = os.path.join(tmp, "frame.cfg")
        Path(cfg).write_text(trafgen_config(frame))
        for rep in range(repeat):
            params = {"count": count, "packet_len": len(frame), "batch": batch, "repetition": rep, "cpus": os.cpu_count()}
            tg_rx, tg_wall = run_trafgen(link, cfg, count)
            l1_rx, l1_wall, _ = run_local(link, frame, count, 1, batch)
            l2_rx, l2_wall, _ = run_local(link, frame, count, 2, batch)
            tg_pps, l1_pps, l2_pps = tg_rx / tg_wall, l1_rx / l1_wall, l2_rx / l2_wall
            lost = {"trafgen_lost": count - tg_rx, "local_lost": count - l1_rx, "local_2w_lost": count - l2_rx}
            yield record("engine", "trafgen_pps", round(tg_pps), "pps", **params, **lost)
            yield record("engine", "local_pps", round(l1_pps), "pps", **params, **lost)
            yield record("engine", "local_vs_trafgen_ratio", round(l1_pps / tg_pps, 3), "x", **params, **lost)
            yield record("engine", "local_2w_pps", round(l2_pps), "pps", **params, **lost)
            yield record("engine", "two_vs_one_worker_ratio", round(l2_pps / l1_pps, 3), "x", **params, **lost)


def from_args(args: Any, progress: Any = None) -> Iterator[Row]:
    yield from bench_engine(count=args.count or 1_000_000, repeat=max(1, args.repeat or 1), batch=args.batch)


BENCHMARK = Benchmark(
    name="engine",
    run=bench_engine,
    summary="local engine vs trafgen -P 1 (root)",
    metrics={
        "trafgen_pps": Metric("pps", "higher"),
        "local_pps": Metric("pps", "higher"),
        "local_vs_trafgen_ratio": Metric("x", "higher"),
        "local_2w_pps": Metric("pps", "higher"),
        "two_vs_one_worker_ratio": Metric("x", "higher"),
    },
    options=(
        Option("--count", "packets per sender per repetition (1 000 000)", int),
        Option("--repeat", "repetitions (1)", int),
        Option("--batch", "sendmmsg batch size", int, 256),
    ),
    from_args=from_args,
)
