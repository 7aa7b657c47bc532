"""Benchmarks behind `dmvpn bench build|engine` (numbers, not tests: nothing here asserts a speed).

build   the same IPv4/GRE/NHRP Registration Request built per packet with the struct template
        (dmvpn.wire.templates) and with the scapy layer (dmvpn.wire.nhrp), bytes checked equal
        first; metrics template_us, scapy_us, template_vs_scapy_ratio (= scapy_us / template_us).
engine  one frame (the registration_storm profile's spoke-0 Registration Request, 110 bytes) sent
        `count` times over a veth pair between two namespaces this benchmark creates and deletes
        (dmvpn-bench-*), in the same run by `trafgen -P 1` (netsniff-ng, TX_RING, qdisc bypass)
        and by the local engine with 1 and with 2 workers (sendmmsg, qdisc bypass). Packets are
        counted on the receiving veth (`ip -s -j link`), rates are those counts over the wall time
        of each whole send command (tool start to exit, setup included for both). Metrics:
        trafgen_pps, local_pps, local_vs_trafgen_ratio, local_2w_pps, two_vs_one_worker_ratio.
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

PROFILES = Path(__file__).resolve().parents[2] / "profiles"


def _record(bench: str, metric: str, value: float, unit: str, **params: Any) -> dict[str, Any]:
    return {"bench": bench, "metric": metric, "value": value, "unit": unit, **params}


# --------------------------------------------------------------------------------------------------
# build


def bench_build(iterations: int = 20000, scapy_iterations: int | None = None) -> Iterator[dict[str, Any]]:
    """Per-packet build time of one Registration Request: template vs scapy (varying spoke and reqid)."""
    from scapy.layers.inet import IP
    from scapy.layers.l2 import GRE

    from dmvpn.wire import nhrp as N
    from dmvpn.wire import templates as T

    spokes = [(f"192.0.2.{128 + i}", f"10.255.0.{2 + i}") for i in range(64)]

    def scapy_build(nbma: str, proto: str, reqid: int) -> bytes:
        return bytes(
            IP(src=nbma, dst="192.0.2.1")
            / GRE(key_present=1, key=42, proto=0x2001)
            / N.NHRP(hopcnt=255)
            / N.NHRPRegistrationRequest(
                flags=0x8002, reqid=reqid, src_nbma=nbma, src_proto=proto, dst_proto="10.255.0.1",
                cies=[N.NHRPCIE(prefix_len=32, holding_time=7200)],
                extensions=[N.NHRPExtResponderAddress(), N.NHRPExtForwardTransit(), N.NHRPExtReverseTransit(), N.NHRPExtEnd()],
            )
        )  # fmt: skip

    template = T.registration_request(
        outer_src=spokes[0][0], outer_dst="192.0.2.1", src_proto=spokes[0][1], dst_proto="10.255.0.1", gre_key=42
    )

    def template_build(nbma: str, proto: str, reqid: int) -> bytes:
        return template.build(outer_src=nbma, src_nbma=nbma, src_proto=proto, reqid=reqid)

    for i, (nbma, proto) in enumerate(spokes):
        a, b = template_build(nbma, proto, i), scapy_build(nbma, proto, i)
        if a != b:
            raise AssertionError(f"template and scapy disagree for spoke {i}: {a.hex()} != {b.hex()}")
    iterations = max(1, iterations)
    scapy_iterations = scapy_iterations or max(10, iterations // 50)

    def per_packet(fn: Any, n: int) -> float:
        t = time.perf_counter()
        for k in range(n):
            nbma, proto = spokes[k & 63]
            fn(nbma, proto, k)
        return (time.perf_counter() - t) / n * 1e6

    t_us = per_packet(template_build, iterations)
    s_us = per_packet(scapy_build, scapy_iterations)
    params = {"packet_len": len(template), "iterations": iterations, "scapy_iterations": scapy_iterations}
    yield _record("build", "template_us", round(t_us, 3), "us", **params)
    yield _record("build", "scapy_us", round(s_us, 3), "us", **params)
    yield _record("build", "template_vs_scapy_ratio", round(s_us / t_us, 2), "x", **params)


# --------------------------------------------------------------------------------------------------
# engine


def bench_frame() -> bytes:
    """The frame both senders send: spoke 0's Registration Request from the registration_storm profile."""
    from dmvpn.engines.loader import load_profile
    from dmvpn.engines.local import stream_base_packet

    streams = load_profile(PROFILES / "registration_storm.py", spokes=1).to_json()
    return stream_base_packet(streams[0])


def trafgen_config(frame: bytes) -> str:
    """trafgen's packet configuration for one fixed frame: `{ 0x.., 0x.., ... }`."""
    return "{ " + ", ".join(f"0x{b:02x}" for b in frame) + " }\n"


def _rx(link: VethPair) -> int:
    return int(link.rx_stats()["packets"])


def _settle(link: VethPair, before: int, expected: int, timeout: float = 2.0) -> int:
    """Receive count delta once it stops moving (the kernel may still be draining a backlog)."""
    end = time.monotonic() + timeout
    last = -1
    while True:
        n = _rx(link) - before
        if n >= expected or n == last or time.monotonic() > end:
            return n
        last = n
        time.sleep(0.05)


def run_trafgen(link: VethPair, cfg: str, count: int, cpus: int = 1) -> tuple[int, float]:
    """(packets received on the peer, wall seconds) for `trafgen -P cpus -n count`."""
    before = _rx(link)
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
    return _settle(link, before, count), wall


def run_local(link: VethPair, frame: bytes, count: int, workers: int, batch: int = 256) -> tuple[int, float, Any]:
    """(packets received on the peer, wall seconds of LocalEngine.run, the RunResult)."""
    from dmvpn.engines import stl_shim as S
    from dmvpn.engines.local import LocalEngine

    stream = S.STLStream(packet=S.STLPktBuilder(pkt_buffer=frame), mode=S.STLTXSingleBurst(total_pkts=count, pps=1e9))
    engine = LocalEngine(
        link.tx_if, netns=link.tx_ns, workers=workers, batch=batch, src_mac=None,
        max_seconds=max(30.0, count / 20000), max_packets=count,
    )  # fmt: skip
    before = _rx(link)
    t = time.monotonic()
    result = engine.run([stream])
    wall = time.monotonic() - t
    return _settle(link, before, count), wall, result


def bench_engine(count: int = 1_000_000, repeat: int = 1, batch: int = 256) -> Iterator[dict[str, Any]]:
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
            yield _record("engine", "trafgen_pps", round(tg_pps), "pps", **params, **lost)
            yield _record("engine", "local_pps", round(l1_pps), "pps", **params, **lost)
            yield _record("engine", "local_vs_trafgen_ratio", round(l1_pps / tg_pps, 3), "x", **params, **lost)
            yield _record("engine", "local_2w_pps", round(l2_pps), "pps", **params, **lost)
            yield _record("engine", "two_vs_one_worker_ratio", round(l2_pps / l1_pps, 3), "x", **params, **lost)
