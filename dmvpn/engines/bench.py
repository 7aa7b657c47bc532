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

The control-plane benchmarks (the closed-loop generator of dmvpn.peers.load):

generator     10 000 emulated spokes registering in a closed loop (`window` in flight) against the
              null responder, which runs in another process pinned to another CPU, on the far end
              of a veth pair between two namespaces made here (dmvpn-bench-*); the generator is
              pinned to one CPU. Side by side in each repetition: the blocking one-at-a-time loop
              (NhrpTemplate.build, sendto, recv) against the same responder. Metrics:
              exchanges_per_s, blocking_exchanges_per_s, vs_blocking_ratio, p50_ms, p99_ms,
              cpu_util (generator CPU seconds per wall second) and exchanges_per_cpu_s (exchanges
              per generator CPU second: its one-core ceiling even when the responder's core is busy).
registration  against the embedded FRR hub (a lab with only the hub, nhrpd debug logging off), for
              each N in `spokes`, `repeat` times, the hub's cache cleared first: all N register in a
              closed loop (`window` in flight, retransmission after 1 s, 2 s, 4 s with the same
              request ID) -> register_rate, p50_ms, p99_ms; the hub's cache is then read until it
              holds all N bindings (protocol, NBMA and claimed NBMA each checked) -> cache_entries,
              all_in_cache_s (first request to the end of the read that found them all, an upper
              bound); once the hub's CPU has settled (< 20 % busy, at most 15 s: FRR stays busy for
              a while after a storm), a ramp of refreshes (doubling, then bisecting) finds max_rate_no_loss:
              the highest offered rate whose step had no loss (no reply within 1 s), no NAK and
              p99 <= latency threshold. Identities: see dmvpn.peers.load (NAT'd spokes by default).
shortcut      Phase 3 with FRR spokes: a fresh lab (hub + 2K spokes, debug off) per repetition; in
              each of K pairs spoke A pings spoke B's LAN from its own LAN every 5 ms; a packet
              capture in the lab namespace (kernel timestamps, each frame at its ingress tap)
              gives, per pair, the time from the first data packet A sends to the hub (hairpinned)
              to the first data packet A sends to B's NBMA address directly -> time_to_shortcut_ms
              (per pair), its p50/p99 per repetition, and time_to_redirect_ms (to the hub's Traffic
              Indication). The hub rate-limits redirects per /24 pair (4/minute), hence fresh labs.
              The hub's NFLOG rule (FRR's documented one) has no --nflog-threshold, so the kernel
              holds the logged packet until nfnetlink_log's 1 s flush timer: the redirect, hence
              the shortcut, comes ~1 s after the first hairpinned packet. `nflog_threshold=1`
              measures the hub with that rule fixed (parameter nflog_threshold in the rows).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
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
# esp


def bench_esp(count: int = 20000, scapy_count: int | None = None, algorithm: str = "aes-gcm-128") -> Iterator[dict[str, Any]]:
    """Encrypt and send: dmvpn.wire.esp vs scapy's SecurityAssociation, same packets, same socket.

    Both protect the same Registration Requests (GRE in transport-mode ESP) and send them through
    one raw IP socket over a veth pair; what arrived is counted on the peer (`ip -s link`).
    """
    import socket

    from scapy.layers.inet import IP
    from scapy.layers.ipsec import ESP, SecurityAssociation

    from dmvpn.transport.namespace import socket_in_netns
    from dmvpn.wire import templates as T
    from dmvpn.wire.esp import ALGORITHMS, EspSA

    algo = ALGORITHMS[algorithm]
    key = bytes(range(1, 1 + algo.key_len + (4 if algo.aead else 0)))
    auth_key = bytes(range(32))[: 20 if "sha1" in algorithm else 32] if not algo.aead else b""
    scapy_names = {"aes-gcm": ("AES-GCM", None), "aes-cbc": ("AES-CBC", "HMAC-SHA1-96" if "sha1" in algorithm else "SHA2-256-128")}
    crypt, auth = scapy_names[algorithm[:7]]
    template = T.registration_request(outer_src="192.0.2.129", outer_dst="192.0.2.1", src_proto="10.255.0.129",
                                      dst_proto="10.255.0.1", gre_key=42)
    packets = [template.build(reqid=i) for i in range(256)]
    scapy_count = scapy_count or max(50, count // 200)
    with veth_pair("dmvpn-bench-") as link:
        _bench_namespaces(link)
        sock = socket_in_netns(link.tx_ns, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        try:
            def run(protect, n: int) -> tuple[float, int]:
                before = _rx(link)
                t = time.perf_counter()
                for i in range(n):
                    sock.sendto(protect(packets[i & 255]), ("192.0.2.1", 0))
                elapsed = time.perf_counter() - t
                return n / elapsed, _settle(link, before, n)

            fast = EspSA(0x1001, algorithm, key, auth_key=auth_key)
            reference = SecurityAssociation(ESP, spi=0x1001, crypt_algo=crypt, crypt_key=key, auth_algo=auth,
                                            auth_key=auth_key or None)
            iv = bytes(algo.iv_len)
            if bytes(reference.encrypt(IP(packets[0]), iv=iv, seq_num=7)) != fast.protect(packets[0], iv=iv, seq=7):
                raise AssertionError("the fast path and scapy disagree on the same packet")
            fast_pps, fast_rx = run(fast.protect, count)
            scapy_pps, scapy_rx = run(lambda p: bytes(reference.encrypt(IP(p))), scapy_count)
        finally:
            sock.close()
    params = {"algorithm": algorithm, "packet_len": len(packets[0]), "count": count, "scapy_count": scapy_count}
    if fast_rx != count or scapy_rx != scapy_count:
        raise AssertionError(f"sent {count}/{scapy_count} but the peer counted {fast_rx}/{scapy_rx}")
    yield _record("esp", "fast_pps", round(fast_pps), "pps", **params)
    yield _record("esp", "scapy_pps", round(scapy_pps, 1), "pps", **params)
    yield _record("esp", "fast_vs_scapy_ratio", round(fast_pps / scapy_pps, 1), "x", **params)


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


# --------------------------------------------------------------------------------------------------
# helpers shared by the control-plane benchmarks


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While the body runs (main thread only), SIGTERM/SIGHUP raise KeyboardInterrupt, so that every
    `finally` (namespaces, responder process, lab) runs when the benchmark is stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    for sig in previous:
        if previous[sig] in (signal.SIG_DFL, signal.SIG_IGN, None):
            signal.signal(sig, raise_interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is raise_interrupt:
                signal.signal(sig, handler)


def python_speed_us() -> float:
    """`sum(range(1000))` over a list, in µs (machine-limits.md quotes 9.8 µs for its machine)."""
    import timeit

    x = list(range(1000))
    return round(min(timeit.repeat(lambda: sum(x), number=2000, repeat=5)) / 2000 * 1e6, 3)


def _quantile_rows(bench: str, latencies: Any, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The latency distribution as quantile rows (metric latency_ms_q, parameter q in %)."""
    if not len(latencies):
        return
    data = sorted(latencies)
    for q in LATENCY_QUANTILES:
        k = min(len(data) - 1, max(0, math.ceil(q / 100.0 * len(data)) - 1))
        yield _record(bench, "latency_ms_q", round(data[k] * 1000.0, 3), "ms", **params, q=q)


LATENCY_QUANTILES = (0, 1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.9, 100)


def _pct(values: list[float], q: float) -> float:
    data = sorted(v for v in values if v == v)
    if not data:
        return math.nan
    k = min(len(data) - 1, max(0, math.ceil(q / 100.0 * len(data)) - 1))
    return data[k]


# --------------------------------------------------------------------------------------------------
# generator


def _bench_namespaces(link: VethPair) -> None:
    """Address the veth pair like the lab: tester side 192.0.2.100 with the spoke ranges as local
    routes; responder side 192.0.2.1 (the "hub") routing them back; static neighbours (no ARP)."""

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)

    ip("-n", link.tx_ns, "addr", "add", "192.0.2.100/24", "dev", link.tx_if)
    ip("-n", link.rx_ns, "addr", "add", "192.0.2.1/24", "dev", link.rx_if)
    for prefix in ("192.0.2.128/25", "198.51.100.0/24", "203.0.113.0/24"):
        ip("-n", link.tx_ns, "route", "add", "local", prefix, "dev", link.tx_if)
        ip("-n", link.rx_ns, "route", "add", prefix, "via", "192.0.2.100", "dev", link.rx_if)
    ip("-n", link.tx_ns, "neigh", "replace", "192.0.2.1", "lladdr", link.rx_mac, "dev", link.tx_if, "nud", "permanent")
    ip("-n", link.rx_ns, "neigh", "replace", "192.0.2.100", "lladdr", link.tx_mac, "dev", link.rx_if, "nud", "permanent")


@contextlib.contextmanager
def _pinned(cpu: int | None) -> Iterator[None]:
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def bench_generator(spokes: int = 10_000, count: int = 200_000, window: int = 128, repeat: int = 3,
                    blocking_count: int = 20_000, progress: Any = None) -> Iterator[dict[str, Any]]:
    """Closed-loop generator vs the blocking loop, both against the null responder (another process)."""
    from dmvpn.peers.load import Identities, LoadGenerator, RawGreIO, blocking_exchanges, start_null_responder
    from dmvpn.transport.namespace import socket_in_netns

    if os.geteuid() != 0:
        raise PermissionError("bench generator needs root (network namespaces, raw sockets)")
    say = progress or (lambda msg: None)
    cpus = sorted(os.sched_getaffinity(0))
    gen_cpu, resp_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    ids = Identities.plan(spokes)
    speed = python_speed_us()
    with _sigterm_as_interrupt(), veth_pair("dmvpn-bench-") as link:
        _bench_namespaces(link)
        responder = start_null_responder(link.rx_ns, cpu=resp_cpu, max_seconds=max(60.0, repeat * (count / 5000 + 30)))
        io = None
        blocking_sock = None
        try:
            io = RawGreIO("192.0.2.1", link.tx_ns, batch=64)
            gen = LoadGenerator(io, ids, hub_nbma="192.0.2.1", hub_proto="10.255.0.1")
            with _pinned(gen_cpu):
                gen.run(count=min(count, 5000), window=window, timeout=0.5)  # warm-up: caches, routes
                for rep in range(repeat):
                    r = gen.run(count=count, window=window, timeout=0.5, max_seconds=max(30.0, count / 2000))
                    # a fresh socket: a raw socket also queues a copy of every reply the generator got
                    blocking_sock = socket_in_netns(link.tx_ns, socket.AF_INET, socket.SOCK_RAW, 47)
                    blocking_sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
                    answered, b_lost, b_seconds = blocking_exchanges(
                        blocking_sock, ids, hub_nbma="192.0.2.1", hub_proto="10.255.0.1", count=blocking_count,
                        timeout=0.2, max_seconds=max(10.0, blocking_count / 1000))
                    blocking_sock.close()
                    blocking_sock = None
                    b_rate = answered / b_seconds if b_seconds > 0 else 0.0
                    rate = r.exchanges_per_s
                    params = {"spokes": spokes, "count": count, "window": window, "repetition": rep,
                              "generator_cpu": gen_cpu, "responder_cpu": resp_cpu, "lost": r.lost,
                              "retransmissions": r.retransmissions, "unmatched": r.unmatched, "stale": r.stale,
                              "blocking_count": blocking_count, "blocking_lost": b_lost,
                              "nbma_addresses": ids.nbma_addresses, "python_sum_us": speed}
                    say(f"generator rep {rep}: {rate:,.0f} exchanges/s, blocking {b_rate:,.0f}/s")
                    yield _record("generator", "exchanges_per_s", round(rate, 1), "1/s", **params)
                    yield _record("generator", "blocking_exchanges_per_s", round(b_rate, 1), "1/s", **params)
                    yield _record("generator", "vs_blocking_ratio", round(rate / b_rate, 3) if b_rate else math.nan, "x", **params)
                    yield _record("generator", "p50_ms", round(r.percentile_ms(50), 3), "ms", **params)
                    yield _record("generator", "p99_ms", round(r.percentile_ms(99), 3), "ms", **params)
                    yield _record("generator", "cpu_util", round(r.cpu_s / r.exchange_seconds, 3), "cores", **params)
                    # the generator's own one-core capacity, whatever the responder's core was doing
                    yield _record("generator", "exchanges_per_cpu_s", round(r.completed / r.cpu_s, 1) if r.cpu_s else math.nan,
                                  "1/cpu-s", **params)
        finally:
            if blocking_sock is not None:
                blocking_sock.close()
            if io is not None:
                io.close()
            last = responder.stop()
            say(f"null responder: {last}")


# --------------------------------------------------------------------------------------------------
# registration (FRR hub)


def perf_topology(spokes: int = 0) -> Any:
    """The lab for performance runs: the default hub (+ spokes) with nhrpd's debug logging off."""
    from dmvpn.lab import Topology

    return Topology(hubs=1, spokes=spokes, nhrp_debug=())


def _hub_cache(lab: Any, hub: str, timeout: float = 120.0) -> tuple[list[dict], float]:
    """(rows of `show ip nhrp cache json`, seconds the read took)."""
    import json

    t = time.monotonic()
    text = lab.vtysh(hub, "show ip nhrp cache json", timeout=timeout)
    rows = json.loads(text).get("table", [])
    return rows, time.monotonic() - t


def _clear_hub_cache(lab: Any, hub: str, timeout: float = 60.0) -> None:
    lab.exec(hub, ["vtysh", "-c", "clear ip nhrp cache"], timeout=timeout).check("clear ip nhrp cache")
    deadline = time.monotonic() + timeout
    while True:
        rows, _ = _hub_cache(lab, hub)
        if not [r for r in rows if r.get("type") == "dynamic"]:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("the hub still has dynamic cache entries after `clear ip nhrp cache`")
        time.sleep(0.2)


def guest_busy(lab: Any, node: str, window: float = 0.5) -> float:
    """Fraction of `node`'s CPU time not idle over `window` seconds (from the guest's /proc/stat)."""
    out = lab.exec(node, f"head -1 /proc/stat; sleep {window}; head -1 /proc/stat").stdout.splitlines()
    first, second = ([int(x) for x in line.split()[1:]] for line in out[:2])
    delta = [b - a for a, b in zip(first, second)]
    idle = delta[3] + delta[4]  # idle + iowait
    total = sum(delta)
    return (total - idle) / total if total > 0 else 0.0


def wait_idle(lab: Any, node: str, busy_below: float = 0.2, timeout: float = 15.0) -> float:
    """Wait (at most `timeout` s) until `node`'s CPU is less than `busy_below` busy; seconds waited.

    After a registration storm FRR 8.4 stays busy for a while (each binding's 10 s authorization
    timer fires, zebra installs the routes): the refresh ramp should measure the settled hub."""
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        if guest_busy(lab, node) < busy_below:
            break
    return time.monotonic() - t


def _count_in_cache(rows: list[dict], expected: dict[str, tuple[str, str]]) -> int:
    """How many of `expected` {protocol: (nbma, claimed nbma)} the cache rows hold exactly."""
    found = 0
    for r in rows:
        want = expected.get(r.get("protocol", ""))
        if want is not None and r.get("type") == "dynamic" and (r.get("nbma"), r.get("claimed_nbma")) == want:
            found += 1
    return found


def find_max_rate(gen: Any, *, start: float = 250.0, limit: float = 64000.0, step_s: float = 1.0, bisect: int = 3,
                  latency_ms: float = 100.0, timeout: float = 1.0, say: Any = None) -> tuple[float, Any, list[dict]]:
    """Ramp the offered rate (doubling from `start`, then `bisect` bisections) until loss, a NAK or
    p99 > latency_ms. Returns (highest passing rate or 0, its LoadResult, every step)."""
    steps: list[dict] = []

    def step(rate: float) -> tuple[bool, Any]:
        r = gen.run(duration=step_s, rate=rate, window=int(rate * timeout) + 64, timeout=timeout, retries=0,
                    max_seconds=step_s + timeout + 10)
        p99 = r.percentile_ms(99)
        ok = r.lost == 0 and r.naks == 0 and r.errors == 0 and r.requests > 0 and p99 <= latency_ms
        steps.append({"rate": round(rate, 1), "achieved": round(r.achieved_rate, 1), "loss": r.lost, "p99_ms": round(p99, 3), "ok": ok})
        if say:
            say(f"  ramp {rate:,.0f}/s: lost {r.lost}/{r.requests}, p99 {p99:.1f} ms -> {'ok' if ok else 'over'}")
        return ok, r

    best, best_result, bad = 0.0, None, None
    rate = start
    while rate <= limit:
        ok, r = step(rate)
        if not ok:
            bad = rate
            break
        best, best_result = rate, r
        rate *= 2
    if bad is not None:
        lo, hi = best, bad
        for _ in range(bisect):
            mid = (lo + hi) / 2 if lo else hi / 2
            ok, r = step(mid)
            if ok:
                lo, best, best_result = mid, mid, r
            else:
                hi = mid
    return best, best_result, steps


def bench_registration(spokes: Sequence[int] = (100, 1000, 10000), repeat: int = 3, *, window: int = 16,
                       timeout: float = 1.0, retries: int = 3, step_s: float = 1.0, bisect: int = 3,
                       start_rate: float = 250.0, latency_ms: float = 100.0, nat: str = "always",
                       settle_s: float = 15.0, lab: Any = None, progress: Any = None) -> Iterator[dict[str, Any]]:
    """Registration storm, cache check and refresh ramp against the FRR hub (see the module docstring)."""
    import json

    from dmvpn.dut.lab import frr_version
    from dmvpn.lab import Lab
    from dmvpn.peers.load import Identities, LoadGenerator, RawGreIO

    say = progress or (lambda msg: None)
    own = lab is None
    with _sigterm_as_interrupt():
        if own:
            lab = Lab(perf_topology(0), progress=say)
            lab.up()
        io = None
        try:
            hub_name = lab.topology.hub_names()[0]
            hub = lab.node(hub_name)
            version = frr_version(lab, hub_name)
            io = RawGreIO(hub.nbma, lab.ns, batch=64)
            for n in spokes:
                ids = Identities.plan(n, nat=nat)
                gen = LoadGenerator(io, ids, hub_nbma=hub.nbma, hub_proto=hub.tunnel, gre_key=lab.topology.gre_key,
                                    holding_time=hub.holdtime)
                expected = {}
                for i in range(n):
                    o, c, p = ids.text(i)
                    expected[p] = (o, c)
                for rep in range(repeat):
                    _clear_hub_cache(lab, hub_name)
                    gen.registered[:] = bytes(n)
                    say(f"registration N={n} rep {rep}: registering")
                    reg = gen.run(count=n, window=window, timeout=timeout, retries=retries,
                                  max_seconds=60.0 + n / 50.0)
                    t_first = reg.first_send
                    # read the hub's cache until it holds all N (bounded)
                    found, reads, read_s, all_s = 0, 0, math.nan, math.nan
                    deadline = time.monotonic() + 30.0 + n / 500.0
                    while True:
                        rows, read_s = _hub_cache(lab, hub_name)
                        reads += 1
                        found = _count_in_cache(rows, expected)
                        if found >= n:
                            all_s = time.monotonic() - t_first
                            break
                        if time.monotonic() > deadline:
                            break
                        time.sleep(0.2)
                    neigh = lab.exec(hub_name, "ip neigh show dev gre1 | wc -l").stdout.strip()
                    say(f"registration N={n} rep {rep}: {reg.exchanges_per_s:,.0f}/s, {found}/{n} in cache after {all_s:.2f} s")
                    settle = wait_idle(lab, hub_name, timeout=settle_s)
                    say(f"registration N={n} rep {rep}: hub settled after {settle:.1f} s; ramp")
                    best, best_r, steps = find_max_rate(gen, start=start_rate, step_s=step_s, bisect=bisect,
                                                        latency_ms=latency_ms, timeout=timeout, say=say)
                    params = {
                        "spokes": n, "repetition": rep, "window": window, "nat": nat, "natted": ids.natted,
                        "nbma_addresses": ids.nbma_addresses, "implementation": f"FRR {version}",
                        "requests": reg.requests, "retransmissions": reg.retransmissions, "lost": reg.lost,
                        "naks": reg.naks, "last_reply_s": round(reg.last_reply - t_first, 3) if reg.last_reply else math.nan,
                        "cache_reads": reads, "cache_read_s": round(read_s, 3), "hub_kernel_neighbors": int(neigh) if neigh.isdigit() else -1,
                        "latency_threshold_ms": latency_ms, "step_s": step_s, "settle_s": round(settle, 1),
                    }
                    ramp_params = {**params, "ramp": json.dumps(steps)}
                    yield _record("registration", "register_rate", round(n / reg.exchange_seconds, 1), "1/s", **params)
                    yield _record("registration", "p50_ms", round(reg.percentile_ms(50), 3), "ms", **params)
                    yield _record("registration", "p99_ms", round(reg.percentile_ms(99), 3), "ms", **params)
                    yield _record("registration", "all_in_cache_s", round(all_s, 3), "s", **params)
                    yield _record("registration", "cache_entries", found, "entries", **params)
                    yield _record("registration", "max_rate_no_loss", round(best, 1), "1/s", **ramp_params)
                    if best_r is not None:
                        yield _record("registration", "refresh_p99_ms_at_max", round(best_r.percentile_ms(99), 3), "ms", **params)
                    yield from _quantile_rows("registration", reg.latencies, params)
            _clear_hub_cache(lab, hub_name)
        finally:
            if io is not None:
                io.close()
            if own:
                lab.down()


# --------------------------------------------------------------------------------------------------
# shortcut (FRR spokes)

SO_TIMESTAMPNS = 35
PACKET_OUTGOING = 4


class _Capture:
    """Every IPv4/GRE frame at its ingress port in the lab namespace, with kernel timestamps."""

    def __init__(self, lab: Any) -> None:
        self.sock = lab.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.settimeout(0.1)
        self.frames: list[tuple[float, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dmvpn-shortcut-capture", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        limit = 2_000_000
        while not self._stop.is_set() and len(self.frames) < limit:
            try:
                data, anc, _flags, addr = self.sock.recvmsg(256, socket.CMSG_SPACE(16))
            except socket.timeout:
                continue
            except OSError:
                return
            if addr[2] == PACKET_OUTGOING or len(data) < 34 or data[12:14] != b"\x08\x00" or data[23] != 47:
                continue
            ts = time.time()
            for level, kind, value in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = struct.unpack("qq", value[:16])
                    ts = sec + nsec / 1e9
            self.frames.append((ts, data[14:]))

    def stop(self) -> list[tuple[float, bytes]]:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
        return self.frames


def shortcut_times(frames: Iterable[tuple[float, bytes]], a_nbma: str, hub_nbma: str, b_nbma: str,
                   a_lan: str, b_lan: str) -> dict[str, float]:
    """From captured IPv4/GRE packets: first hairpinned data packet A -> hub (inner a_lan -> b_lan),
    the hub's Traffic Indication to A, and the first data packet A -> B direct; times in ms after
    the first hairpinned one (NaN when absent)."""
    A, H, B = (socket.inet_aton(x) for x in (a_nbma, hub_nbma, b_nbma))
    src_lan, dst_lan = (socket.inet_aton(x) for x in (a_lan, b_lan))
    first_hairpin = redirect = direct = math.nan
    for ts, ip in sorted(frames, key=lambda f: f[0]):
        ihl = (ip[0] & 0x0F) * 4
        if len(ip) < ihl + 8:
            continue
        g = ip[ihl]
        proto = ip[ihl + 2 : ihl + 4]
        inner = ihl + 4 + (4 if g & 0x80 else 0) + (4 if g & 0x20 else 0) + (4 if g & 0x10 else 0)
        src, dst = ip[12:16], ip[16:20]
        if proto == b"\x08\x00" and len(ip) >= inner + 20 and ip[inner + 12 : inner + 16] == src_lan and ip[inner + 16 : inner + 20] == dst_lan:
            if src == A and dst == H and first_hairpin != first_hairpin:
                first_hairpin = ts
            elif src == A and dst == B and first_hairpin == first_hairpin and direct != direct:
                direct = ts
        elif proto == b"\x20\x01" and src == H and dst == A and len(ip) > inner + 17 and ip[inner + 17] == 8:
            if first_hairpin == first_hairpin and redirect != redirect:
                redirect = ts
    return {
        "time_to_shortcut_ms": (direct - first_hairpin) * 1000.0,
        "time_to_redirect_ms": (redirect - first_hairpin) * 1000.0,
    }


def set_nflog_threshold(lab: Any, node: str, threshold: int) -> str:
    """Rewrite `node`'s NFLOG rule (the redirect trigger) with --nflog-threshold; returns the new rule.

    The lab's rule is FRR's documented one, without a threshold: the kernel then queues logged
    packets until nfnetlink_log's flush timer (1 s) fires, which delays every redirect by ~1 s.
    """
    import shlex

    rules = lab.exec(node, ["/usr/sbin/iptables-legacy", "-S", "FORWARD"]).check("iptables -S").stdout.splitlines()
    appended = [shlex.split(r) for r in rules if r.startswith("-A FORWARD")]
    for index, spec in enumerate(appended, start=1):
        if "NFLOG" in spec:
            spec = [a for a in spec[2:]]
            if "--nflog-threshold" in spec:
                k = spec.index("--nflog-threshold")
                del spec[k : k + 2]
            spec += ["--nflog-threshold", str(threshold)]
            lab.exec(node, ["/usr/sbin/iptables-legacy", "-R", "FORWARD", str(index), *spec]).check("iptables -R")
            return " ".join(spec)
    raise RuntimeError(f"{node} has no NFLOG rule in FORWARD")


def bench_shortcut(pairs: int = 2, repeat: int = 3, *, interval: float = 0.005, max_wait: float = 4.0,
                   nflog_threshold: int | None = None, progress: Any = None) -> Iterator[dict[str, Any]]:
    """Time to shortcut for K pairs of FRR spokes, a fresh lab per repetition.

    nflog_threshold: rewrite the hub's NFLOG rule with --nflog-threshold N first (None: the lab's
    rule as FRR documents it, no threshold, i.e. nfnetlink_log's 1 s flush timer).
    """
    from dmvpn.lab import Lab, poll_until

    say = progress or (lambda msg: None)
    count = int(max_wait / interval)
    with _sigterm_as_interrupt():
        for rep in range(repeat):
            with Lab(perf_topology(2 * pairs), progress=say) as lab:
                hub_name = lab.topology.hub_names()[0]
                hub = lab.node(hub_name)
                spokes = [lab.node(f"spoke{i}") for i in range(1, 2 * pairs + 1)]
                want = {s.tunnel: s.nbma for s in spokes}

                def registered() -> bool:
                    have = {e.protocol: e.nbma for e in lab.nhrp_cache(hub_name) if e.type == "dynamic"}
                    return all(have.get(p) == nb for p, nb in want.items())

                poll_until(registered, 60.0, 0.2, "spokes registered at the hub")
                if nflog_threshold is not None:
                    set_nflog_threshold(lab, hub_name, nflog_threshold)
                capture = _Capture(lab)
                try:
                    results: dict[int, Any] = {}

                    def ping(k: int) -> None:
                        a, b = spokes[2 * k], spokes[2 * k + 1]
                        try:
                            results[k] = lab.exec(a.name, ["ping", "-q", "-c", str(count), "-i", str(interval),
                                                           "-w", str(int(max_wait) + 2), "-I", a.lan_address, b.lan_address],
                                                  timeout=max_wait + 15)
                        except Exception as exc:  # reported as a missing sample below
                            results[k] = exc

                    threads = [threading.Thread(target=ping, args=(k,)) for k in range(pairs)]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                finally:
                    frames = capture.stop()
                samples, redirects = [], []
                for k in range(pairs):
                    a, b = spokes[2 * k], spokes[2 * k + 1]
                    times = shortcut_times(frames, a.nbma, hub.nbma, b.nbma, a.lan_address, b.lan_address)
                    params = {"pairs": pairs, "repetition": rep, "pair": k, "interval_ms": interval * 1000,
                              "a": a.name, "b": b.name, "nflog_threshold": nflog_threshold or 0}
                    say(f"shortcut rep {rep} pair {k} ({a.name} -> {b.name}): {times['time_to_shortcut_ms']:.1f} ms")
                    yield _record("shortcut", "time_to_shortcut_ms", round(times["time_to_shortcut_ms"], 3), "ms", **params)
                    yield _record("shortcut", "time_to_redirect_ms", round(times["time_to_redirect_ms"], 3), "ms", **params)
                    samples.append(times["time_to_shortcut_ms"])
                    redirects.append(times["time_to_redirect_ms"])
                params = {"pairs": pairs, "repetition": rep, "interval_ms": interval * 1000,
                          "missing": sum(1 for s in samples if s != s), "nflog_threshold": nflog_threshold or 0}
                yield _record("shortcut", "time_to_shortcut_ms_p50", round(_pct(samples, 50), 3), "ms", **params)
                yield _record("shortcut", "time_to_shortcut_ms_p99", round(_pct(samples, 99), 3), "ms", **params)
                yield _record("shortcut", "time_to_redirect_ms_p50", round(_pct(redirects, 50), 3), "ms", **params)
