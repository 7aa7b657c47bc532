"""shortcut: Phase 3 with FRR spokes, the time from the first hairpinned packet to direct traffic.

A fresh lab (hub + 2K spokes, debug off) per repetition; in each of K pairs spoke A pings spoke B's
LAN from its own LAN every 5 ms; a packet capture in the lab namespace (kernel timestamps, each
frame at its ingress tap) gives, per pair, the time from the first data packet A sends to the hub
(hairpinned) to the first data packet A sends to B's NBMA address directly -> time_to_shortcut_ms
(per pair), its p50/p99 per repetition, and time_to_redirect_ms (to the hub's Traffic Indication).
The hub rate-limits redirects per /24 pair (4/minute), hence fresh labs. The hub's NFLOG rule
(FRR's documented one) has no --nflog-threshold, so the kernel holds the logged packet until
nfnetlink_log's 1 s flush timer: the redirect, hence the shortcut, comes ~1 s after the first
hairpinned packet. `nflog_threshold=1` measures the hub with that rule fixed (parameter
nflog_threshold in the rows).
"""

from __future__ import annotations

import math
import socket
import struct
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from .common import pct, perf_topology, sigterm_as_interrupt
from .spec import Benchmark, Metric, Option, Plot, Row, record


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
                   nflog_threshold: int | None = None, progress: Any = None) -> Iterator[Row]:
    """Time to shortcut for K pairs of FRR spokes, a fresh lab per repetition.

    nflog_threshold: rewrite the hub's NFLOG rule with --nflog-threshold N first (None: the lab's
    rule as FRR documents it, no threshold, i.e. nfnetlink_log's 1 s flush timer).
    """
    from dmvpn.lab import Lab, poll_until

    say = progress or (lambda msg: None)
    count = int(max_wait / interval)
    with sigterm_as_interrupt():
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
                    yield record("shortcut", "time_to_shortcut_ms", round(times["time_to_shortcut_ms"], 3), "ms", **params)
                    yield record("shortcut", "time_to_redirect_ms", round(times["time_to_redirect_ms"], 3), "ms", **params)
                    samples.append(times["time_to_shortcut_ms"])
                    redirects.append(times["time_to_redirect_ms"])
                params = {"pairs": pairs, "repetition": rep, "interval_ms": interval * 1000,
                          "missing": sum(1 for s in samples if s != s), "nflog_threshold": nflog_threshold or 0}
                yield record("shortcut", "time_to_shortcut_ms_p50", round(pct(samples, 50), 3), "ms", **params)
                yield record("shortcut", "time_to_shortcut_ms_p99", round(pct(samples, 99), 3), "ms", **params)
                yield record("shortcut", "time_to_redirect_ms_p50", round(pct(redirects, 50), 3), "ms", **params)


def from_args(args: Any, progress: Any = None) -> Iterator[Row]:
    yield from bench_shortcut(pairs=max(1, args.pairs), repeat=max(1, args.repeat or 3),
                              nflog_threshold=args.nflog_threshold, progress=progress)


def plot_shortcut(frame: Any, plt: Any) -> Any:
    """The time-to-shortcut distribution (and time to the Traffic Indication), per hub NFLOG variant."""
    s = frame[(frame["bench"] == "shortcut") & (frame["metric"].isin(["time_to_shortcut_ms", "time_to_redirect_ms"]))]
    s = s[s["value"].notna()]
    if s.empty:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4))
    variants = s["nflog_threshold"].fillna(0).unique() if "nflog_threshold" in s else [0]
    for variant in sorted(variants):
        part = s[s["nflog_threshold"].fillna(0) == variant] if "nflog_threshold" in s else s
        suffix = f", hub nflog-threshold {int(variant)}" if variant else ""
        for metric, label in (("time_to_shortcut_ms", "first hairpinned -> first direct"),
                              ("time_to_redirect_ms", "first hairpinned -> Traffic Indication")):
            values = part[part["metric"] == metric]["value"].to_numpy()
            if len(values):
                ax.hist(values, bins=max(5, min(30, len(values))), alpha=0.6, label=f"{label}{suffix} (n={len(values)})")
    ax.set_xlabel("ms")
    ax.set_ylabel("pairs")
    ax.set_title("FRR spokes: time to shortcut (Phase 3)")
    ax.legend()
    ax.grid(True, alpha=0.3)
    return fig


BENCHMARK = Benchmark(
    name="shortcut",
    run=bench_shortcut,
    summary="FRR spokes' time to shortcut (lab)",
    metrics={
        "time_to_shortcut_ms": Metric("ms", sample=True),
        "time_to_redirect_ms": Metric("ms", sample=True),
        "time_to_shortcut_ms_p50": Metric("ms", "lower"),
        "time_to_shortcut_ms_p99": Metric("ms", "lower"),
        "time_to_redirect_ms_p50": Metric("ms", "lower"),
    },
    key_params={"pairs": None, "nflog_threshold": 0},
    main_job={
        "quick": {"pairs": 1, "repeat": 1},
        "default": {"pairs": 2, "repeat": 3},
        "scale": {"pairs": 3, "repeat": 3},
    },
    options=(
        Option("--repeat", "repetitions (3)", int),
        Option("--pairs", "spoke pairs K (a lab of 2K FRR spokes)", int, 2),
        Option("--nflog-threshold", "rewrite the hub's NFLOG rule with --nflog-threshold N (default: as FRR documents it)", int),
    ),
    from_args=from_args,
    plots=(Plot("shortcut", plot_shortcut),),
)
