"""The `local` engine: TRex profiles -> packets -> AF_PACKET sendmmsg, from N worker processes.

    engine = LocalEngine("veth0", netns="lab-ns", workers=2, max_seconds=10)
    result = engine.run("profiles/registration_storm.py", {"spokes": 1000, "rate": 5000})
    result.sent, result.per_stream, result.pps

Input: a profile file (loaded in this process with the STL shim, see loader), a shim STLProfile or
stream list, or the stream JSON of the real TRex client (`TrexEngine.load(...)`): everything is
turned into the client's JSON first, and only that is interpreted.

Per stream: the base packet gets TRex's MAC handling (source = the interface's MAC unless the
stream says the packet's own MAC wins; destination = `dst_mac` if given), then the field engine
(dmvpn.engines.fieldengine) is run ahead of time for one full period of the stream's variables
(lcm of their cycles; value lists: their length), capped at `cache_packets` per stream and
`cache_bytes` for the whole profile (shared equally by its streams): exact
for every inc/dec/value-list program up to the cap; beyond it, and for random variables, the first
`cache` packets repeat (TRex's own cache_size semantics) and the result says so in `notes`. Every
precomputed frame's IPv4 destination passes the interlock (default: the three RFC 5737 ranges)
before anything is sent.

Timing follows TRex: a stream starts `isg` µs after its predecessor in a `next` chain ends (or after
the start for self-starting streams); a stream with `next` and action_count n > 0 takes that jump at
most n times (so a stream looping to itself runs n+1 times), 0 = unlimited (bounded by the caps); packet j of a burst is due at start + j/pps; multi-burst
streams leave `ibg` µs between bursts; `mult` scales every rate (TRex `-m`). Due packets go out in
sendmmsg batches of up to `batch` (so at high rates packets leave in micro-bursts of up to `batch`,
on time on average). rate types bps_L1/bps_L2 are converted with the frame length (+4 FCS, +20
preamble/IPG for L1); percentage needs `link_bps`.

Random variables use the stream's random_seed, else `seed` + stream index when the engine has a
`seed`, else a fresh random seed per compile.

Workers: a self-starting stream without `next` that is a single burst or continuous is split across
all workers like TRex splits a stream across cores (worker w sends packets w, w+N, w+2N, ... at
rate/N); `next` chains and multi-burst streams run whole on one worker (least loaded), so their
order holds. Each worker is a forked process with its own socket, rings and pacing, released by a
common start time.

Always bounded: `max_seconds` (and `duration`) stop every worker, `max_packets` caps the total;
workers that outlive the deadline by `grace` seconds are killed by pid.
"""

from __future__ import annotations

import base64
import math
import multiprocessing
import os
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dmvpn.engines.fieldengine import Program
from dmvpn.engines.sendmmsg import FrameRing, interface_mac, interface_mtu, open_packet_socket
from dmvpn.transport.interlock import Interlock, UnsafeDestination
from dmvpn.transport.namespace import in_netns

DEFAULT_PREFIXES = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
_NEVER = float("inf")


def stream_base_packet(stream: dict[str, Any]) -> bytes:
    """The base packet of a stream in the client's JSON."""
    return base64.b64decode(stream["packet"]["binary"])


def frame_ipv4_destination(frame: bytes) -> str | None:
    """Outer IPv4 destination of an Ethernet frame (one 802.1Q tag allowed), None if not IPv4."""
    off = 12
    ethertype = int.from_bytes(frame[off : off + 2], "big")
    if ethertype == 0x8100:
        off += 4
        ethertype = int.from_bytes(frame[off : off + 2], "big")
    ip = off + 2
    if ethertype != 0x0800 or len(frame) < ip + 20 or frame[ip] >> 4 != 4:
        return None
    return ".".join(str(b) for b in frame[ip + 16 : ip + 20])


def _mac(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    return bytes(int(p, 16) for p in value.replace("-", ":").split(":"))


def to_stream_json(profile: Any, tunables: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Client JSON for a profile path (+ tunables), a shim STLProfile / stream list, or JSON already."""
    if isinstance(profile, (str, Path)):
        from dmvpn.engines.loader import load_profile

        return load_profile(profile, **(tunables or {})).to_json()
    if tunables:
        raise TypeError("tunables only apply when the profile is given as a file")
    if hasattr(profile, "to_json") and not isinstance(profile, dict):
        return profile.to_json()
    streams = list(profile)
    return [s if isinstance(s, dict) else s.to_json() for s in streams]


# --------------------------------------------------------------------------------------------------
# Plans


@dataclass
class StreamPlan:
    """One stream, compiled: timing in seconds, its precomputed frames (`cycle`)."""

    index: int
    name: str | None
    json: dict[str, Any]
    program: Program
    frame_len: int
    pps: float
    mode: str  # continuous | single_burst | multi_burst
    total: int | None  # packets of the whole stream; None: continuous
    pkts_per_burst: int
    ibg: float
    isg: float
    self_start: bool
    next: int | None
    action_count: int
    cycle: list[bytes] = field(default_factory=list)
    exact: bool = True
    note: str | None = None

    @property
    def splittable(self) -> bool:
        return self.next is None and self.mode in ("single_burst", "continuous")


@dataclass
class Lane:
    """What one worker runs: a chain from stream `start`, or its share (phase of stride) of a split stream."""

    start: int
    phase: int = 0
    stride: int = 1


@dataclass
class RunResult:
    sent: int
    per_stream: list[int]
    elapsed: float  # start time -> last packet of any worker
    wall: float  # the whole run() call
    workers: list[dict[str, Any]]
    complete: bool  # every stream sent everything it had to (continuous streams never complete)
    expected: int | None  # packets the profile asks for, None if it has continuous streams
    notes: list[str]

    @property
    def pps(self) -> float:
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent, "per_stream": self.per_stream, "elapsed": self.elapsed, "wall": self.wall,
            "pps": self.pps, "complete": self.complete, "expected": self.expected, "notes": self.notes,
            "workers": self.workers,
        }  # fmt: skip


# --------------------------------------------------------------------------------------------------
# The engine


class LocalEngine:
    def __init__(
        self,
        interface: str | None = None,
        *,
        netns: str | None = None,
        workers: int = 1,
        interlock: Interlock | None = None,
        max_seconds: float = 10.0,
        max_packets: int = 5_000_000,
        batch: int = 256,
        mult: float = 1.0,
        src_mac: str | bytes | None = "port",
        dst_mac: str | bytes | None = None,
        link_bps: float | None = None,
        cache_packets: int = 65536,
        cache_bytes: int = 64 << 20,
        qdisc_bypass: bool = True,
        grace: float = 5.0,
        allow_host_namespace: bool = False,
        seed: int | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        if max_seconds <= 0 or max_packets <= 0:
            raise ValueError("max_seconds and max_packets must be positive: every run is bounded")
        self.interface = interface
        self.netns = netns
        self.workers = workers
        self.interlock = interlock or Interlock(DEFAULT_PREFIXES)
        self.max_seconds = float(max_seconds)
        self.max_packets = int(max_packets)
        self.batch = max(1, int(batch))
        self.mult = float(mult)
        self.src_mac = src_mac
        self.dst_mac = dst_mac
        self.link_bps = link_bps
        self.cache_packets = cache_packets
        self.cache_bytes = cache_bytes
        self.qdisc_bypass = qdisc_bypass
        self.grace = grace
        self.allow_host_namespace = allow_host_namespace
        self.seed = seed

    # -- compiling ---------------------------------------------------------------------------

    def port_mac(self) -> bytes:
        """The interface's MAC address (what TRex calls the port's source MAC)."""
        if not self.interface:
            raise ValueError("src_mac='port' needs an interface")
        with in_netns(self.netns):
            sock = open_packet_socket(self.interface, qdisc_bypass=False)
        try:
            return interface_mac(sock, self.interface)
        finally:
            sock.close()

    def compile(self, profile: Any, tunables: dict[str, Any] | None = None, *, duration: float | None = None) -> list[StreamPlan]:
        """Stream plans with their frames precomputed (and checked against the interlock)."""
        streams = to_stream_json(profile, tunables)
        if not streams:
            raise ValueError("the profile has no streams")
        src_mac = self.port_mac() if self.src_mac == "port" else (None if self.src_mac is None else _mac(self.src_mac))
        dst_mac = None if self.dst_mac is None else _mac(self.dst_mac)
        names = {s["name"]: i for i, s in enumerate(streams) if s.get("name")}
        horizon = min(self.max_seconds, duration) if duration else self.max_seconds
        plans = []
        for i, s in enumerate(streams):
            base = bytearray(stream_base_packet(s))
            flags = s.get("flags", 0)
            if src_mac is not None and not flags & 1:
                base[6:12] = src_mac
            if dst_mac is not None and (flags >> 1) & 3 != 1:
                base[0:6] = dst_mac
            mode = s["mode"]
            kind = mode["type"]
            pps = self._pps(mode["rate"], len(base)) * self.mult
            if pps <= 0:
                raise ValueError(f"stream {i}: rate must be positive")
            if kind == "single_burst":
                total: int | None = mode["total_pkts"]
            elif kind == "multi_burst":
                total = mode["pkts_per_burst"] * mode["count"]
            elif kind == "continuous":
                total = None
            else:
                raise ValueError(f"stream {i}: unknown mode {kind!r}")
            nxt = s.get("next")
            if nxt is not None and nxt not in names:
                raise ValueError(f"stream {i}: next stream {nxt!r} does not exist")
            seed = s.get("random_seed", 0) or (0 if self.seed is None else (self.seed + i) & 0xFFFFFFFF or 1)
            program = Program(s.get("vm"), len(base), seed=seed)
            plan = StreamPlan(
                index=i,
                name=s.get("name"),
                json=s,
                program=program,
                frame_len=len(base),
                pps=pps,
                mode=kind,
                total=total,
                pkts_per_burst=mode.get("pkts_per_burst", 1),
                ibg=mode.get("ibg", 0.0) / 1e6,
                isg=s.get("isg", 0.0) / 1e6,
                self_start=bool(s.get("self_start", True)) and bool(s.get("enabled", True)),
                next=names.get(nxt) if nxt is not None else None,
                action_count=s.get("action_count", 0),
            )
            if not s.get("enabled", True) or s.get("flags", 0) & 8:
                plan.self_start = False  # disabled or dummy stream: never sent
            self._precompute(plan, bytes(base), horizon, self.cache_bytes // len(streams))
            plans.append(plan)
        self._check_destinations(plans)
        return plans

    def _pps(self, rate: dict[str, Any], frame_len: int) -> float:
        kind, value = rate["type"], float(rate["value"])
        if kind == "pps":
            return value
        if kind == "bps_L2":
            return value / ((frame_len + 4) * 8)
        if kind == "bps_L1":
            return value / ((frame_len + 24) * 8)
        if kind == "percentage":
            if not self.link_bps:
                raise ValueError("a percentage rate needs LocalEngine(link_bps=...)")
            return value / 100 * self.link_bps / ((frame_len + 24) * 8)
        raise ValueError(f"unknown rate type {kind!r}")

    def _precompute(self, plan: StreamPlan, base: bytes, horizon: float, byte_budget: int) -> None:
        needed = plan.total if plan.total is not None else math.ceil(plan.pps * horizon) + self.batch
        needed = min(needed, self.max_packets)
        cap = max(1, min(self.cache_packets, byte_budget // max(1, plan.frame_len)))
        period = plan.program.period
        length = min(needed, cap, period if period is not None else needed)
        plan.cycle = plan.program.packets(base, max(1, length))
        plan.exact = (period is not None and length >= period) or length >= needed
        if not plan.exact:
            why = "random variables" if period is None else f"a period of {period} packets"
            plan.note = f"stream {plan.index}: {why}; the first {length} precomputed packets repeat"

    def _check_destinations(self, plans: list[StreamPlan]) -> None:
        seen: set[bytes] = set()
        for plan in plans:
            for frame in plan.cycle:
                key = frame[12:38]
                if key in seen:
                    continue
                seen.add(key)
                dst = frame_ipv4_destination(frame)
                if dst is None:
                    raise UnsafeDestination(f"stream {plan.index}: refusing a frame that is not IPv4 over Ethernet")
                self.interlock.check(dst)

    def frames(self, profile: Any, tunables: dict[str, Any] | None = None, *, stream: int = 0, count: int | None = None) -> list[bytes]:
        """What stream `stream` sends, in order (all workers together), without sending: for tests."""
        plans = self.compile(profile, tunables)
        plan = plans[stream]
        n = count if count is not None else (plan.total if plan.total is not None else len(plan.cycle))
        cycle = plan.cycle
        return [cycle[k % len(cycle)] for k in range(n)]

    # -- lanes -------------------------------------------------------------------------------

    def assign(self, plans: list[StreamPlan], horizon: float) -> list[list[Lane]]:
        """Lanes per worker: splittable self-starting streams on every worker, chains on the least loaded."""
        n = self.workers
        per_worker: list[list[Lane]] = [[] for _ in range(n)]
        load = [0.0] * n
        for plan in plans:
            if not plan.self_start:
                continue
            if plan.splittable and n > 1:
                for w in range(n):
                    per_worker[w].append(Lane(plan.index, w, n))
                    load[w] += self._estimate(plans, plan.index, horizon) / n
            else:
                w = min(range(n), key=load.__getitem__)
                per_worker[w].append(Lane(plan.index))
                load[w] += self._estimate(plans, plan.index, horizon)
        return per_worker

    @staticmethod
    def _estimate(plans: list[StreamPlan], start: int, horizon: float) -> float:
        total, seen, i = 0.0, set(), start
        while i is not None and i not in seen:
            seen.add(i)
            p = plans[i]
            total += p.total if p.total is not None else p.pps * horizon
            i = p.next
        return total

    @staticmethod
    def expected_packets(plans: list[StreamPlan]) -> int | None:
        """Packets the profile sends when nothing stops it early (None: continuous or looping)."""
        total, seen = 0, set()
        for plan in plans:
            if not plan.self_start:
                continue
            i = plan.index
            while i is not None:
                if i in seen:
                    return None  # a loop
                seen.add(i)
                p = plans[i]
                if p.total is None:
                    return None
                total += p.total
                i = p.next
        return total

    # -- running -----------------------------------------------------------------------------

    def run(self, profile: Any, tunables: dict[str, Any] | None = None, *, duration: float | None = None) -> RunResult:
        """Send the profile; returns when every worker is done or the time is up (always bounded)."""
        if not self.interface:
            raise ValueError("LocalEngine.run needs an interface")
        if self.netns is None and not self.allow_host_namespace:
            raise PermissionError("refusing to send from the host namespace: give netns= (or allow_host_namespace=True)")
        wall0 = time.monotonic()
        horizon = min(self.max_seconds, duration) if duration else self.max_seconds
        plans = self.compile(profile, tunables, duration=duration)
        with in_netns(self.netns):
            probe = open_packet_socket(self.interface, qdisc_bypass=False)
        try:
            mtu = interface_mtu(probe, self.interface)
        finally:
            probe.close()
        too_big = [p.index for p in plans if p.frame_len - 14 > mtu]
        if too_big:
            raise ValueError(f"streams {too_big} have frames larger than {self.interface}'s MTU {mtu} + 14")
        lanes = self.assign(plans, horizon)
        cap_per_worker = [self.max_packets // self.workers + (w < self.max_packets % self.workers) for w in range(self.workers)]
        ctx = multiprocessing.get_context("fork")
        go = ctx.Event()
        start_at = ctx.Value("d", 0.0)
        procs, conns = [], []
        results: list[dict[str, Any]] = []
        try:
            for w in range(self.workers):
                parent, child = ctx.Pipe(duplex=False)
                proc = ctx.Process(
                    target=_worker_entry,
                    args=(child, go, start_at, w, lanes[w], plans, self, horizon, cap_per_worker[w]),
                    name=f"dmvpn-local-{w}",
                    daemon=True,
                )
                proc.start()
                child.close()
                procs.append(proc)
                conns.append(parent)
            for w, conn in enumerate(conns):
                if not conn.poll(60):
                    raise TimeoutError(f"worker {w} did not get ready in 60 s")
                msg = conn.recv()
                if msg.get("error"):
                    raise RuntimeError(f"worker {w}: {msg['error']}")
            start_at.value = time.monotonic() + 0.002
            go.set()
            deadline = start_at.value + horizon + self.grace
            for w, conn in enumerate(conns):
                remaining = max(0.0, deadline - time.monotonic())
                if conn.poll(remaining):
                    results.append(conn.recv())
                else:
                    results.append({"worker": w, "sent": 0, "per_stream": {}, "error": "no result before the deadline"})
        finally:
            go.set()  # release anyone still waiting, then reap
            for proc in procs:
                proc.join(timeout=max(0.1, self.grace))
                if proc.is_alive() and proc.pid:
                    os.kill(proc.pid, 9)
                    proc.join(timeout=5)
            for conn in conns:
                conn.close()
        errors = [r["error"] for r in results if r.get("error")]
        if errors:
            raise RuntimeError("; ".join(errors))
        per_stream = [0] * len(plans)
        for r in results:
            for idx, n in r["per_stream"].items():
                per_stream[int(idx)] += n
        last = max((r["last"] for r in results if r.get("last")), default=start_at.value)
        expected = self.expected_packets(plans)
        return RunResult(
            sent=sum(r["sent"] for r in results),
            per_stream=per_stream,
            elapsed=max(0.0, last - start_at.value),
            wall=time.monotonic() - wall0,
            workers=results,
            complete=all(r["complete"] for r in results),
            expected=expected,
            notes=[p.note for p in plans if p.note],
        )


# --------------------------------------------------------------------------------------------------
# Workers


def lane_sequence(plan: StreamPlan, lane: Lane, first: bool) -> list[bytes]:
    """The frames a lane sends from a stream, in order (cyclic)."""
    cycle = plan.cycle
    if not first or lane.stride == 1 or not plan.program.split_to_cores:
        return cycle
    length = len(cycle)
    n = length // math.gcd(length, lane.stride)
    return [cycle[(lane.phase + k * lane.stride) % length] for k in range(n)]


class _Cursor:
    """A lane's position in time and in its chain of streams."""

    __slots__ = ("plans", "rings", "phase", "stride", "runs", "plan", "ring", "t0", "sent", "local_total", "done", "index")

    def __init__(self, lane: Lane, plans: list[StreamPlan], rings: dict[int, FrameRing], t_start: float) -> None:
        self.plans = plans
        self.rings = rings
        self.phase, self.stride = lane.phase, lane.stride
        self.runs: dict[int, int] = {}
        self.done = False
        self._enter(lane.start, t_start)

    def _enter(self, index: int, t: float) -> None:
        p = self.plans[index]
        self.index = index
        self.plan = p
        self.ring = self.rings[index]
        self.t0 = t + p.isg
        self.sent = 0
        if p.total is None:
            self.local_total = None
        else:
            self.local_total = max(0, -(-(p.total - self.phase) // self.stride))
        self.runs[index] = self.runs.get(index, 0) + 1
        if self.local_total == 0:
            self._finish()

    def due_time(self, j: int) -> float:
        p = self.plan
        g = self.phase + j * self.stride
        if p.mode == "multi_burst":
            b, i = divmod(g, p.pkts_per_burst)
            return self.t0 + b * (p.pkts_per_burst / p.pps + p.ibg) + i / p.pps
        return self.t0 + g / p.pps

    def due(self, now: float) -> int:
        p = self.plan
        elapsed = now - self.t0
        if elapsed < 0:
            return 0
        if p.mode == "multi_burst":
            period = p.pkts_per_burst / p.pps + p.ibg
            b = int(elapsed // period)
            i = min(p.pkts_per_burst, int((elapsed - b * period) * p.pps) + 1)
            n = b * p.pkts_per_burst + i
        else:
            x = elapsed * p.pps
            if x < self.phase:
                return 0
            n = int((x - self.phase) // self.stride) + 1
        if self.local_total is not None and n > self.local_total:
            n = self.local_total
        return n - self.sent

    def advance(self, n: int) -> None:
        self.sent += n
        if self.local_total is not None and self.sent >= self.local_total:
            self._finish()

    def _finish(self) -> None:
        p = self.plan
        end = (self.due_time(self.local_total - 1) if self.local_total else self.t0) + 1.0 / p.pps
        if p.next is not None and (p.action_count == 0 or self.runs.get(self.index, 0) <= p.action_count):
            if self.stride != 1:  # split lanes never chain; defensive
                self.done = True
                return
            self._enter(p.next, end)
        else:
            self.done = True


def _chain(plans: list[StreamPlan], start: int) -> list[int]:
    out, i = [], start
    while i is not None and i not in out:
        out.append(i)
        i = plans[i].next
    return out


def _worker_entry(conn: Any, go: Any, start_at: Any, worker: int, lanes: list[Lane], plans: list[StreamPlan],
                  engine: LocalEngine, horizon: float, cap: int) -> None:  # fmt: skip
    try:
        result = _worker(conn, go, start_at, worker, lanes, plans, engine, horizon, cap)
    except BaseException as exc:  # report, never hang the parent
        result = {"worker": worker, "sent": 0, "per_stream": {}, "error": f"{exc!r}\n{traceback.format_exc()}"}
    try:
        conn.send(result)
    finally:
        conn.close()


def _worker(conn: Any, go: Any, start_at: Any, worker: int, lanes: list[Lane], plans: list[StreamPlan],
            engine: LocalEngine, horizon: float, cap: int) -> dict[str, Any]:  # fmt: skip
    with in_netns(engine.netns):
        sock = open_packet_socket(engine.interface, qdisc_bypass=engine.qdisc_bypass)
    fd = sock.fileno()
    rings_per_lane = []
    for lane in lanes:
        rings: dict[int, FrameRing] = {}
        for pos, idx in enumerate(_chain(plans, lane.start)):
            plan = plans[idx]
            seq = lane_sequence(plan, lane, first=pos == 0)
            local = plan.total if plan.total is not None else engine.batch
            rings[idx] = FrameRing(seq, min(engine.batch, max(1, local)))
        rings_per_lane.append(rings)
    conn.send({"ready": worker})
    if not go.wait(120):
        raise TimeoutError("no start signal")
    t_start = start_at.value
    deadline = t_start + horizon
    monotonic = time.monotonic
    sleep = time.sleep
    while monotonic() < t_start:
        pass
    cursors = [_Cursor(lane, plans, rings, t_start) for lane, rings in zip(lanes, rings_per_lane)]
    cursors = [c for c in cursors if not c.done]
    per_stream: dict[int, int] = {}
    sent = retries = 0
    first = last = 0.0
    stopped = "done"
    batch = engine.batch
    while cursors:
        now = monotonic()
        if now >= deadline:
            stopped = "time"
            break
        if sent >= cap:
            stopped = "count"
            break
        progressed = False
        for c in cursors:
            n = c.due(now)
            if n <= 0:
                continue
            if n > batch:
                n = batch
            if n > cap - sent:
                n = cap - sent
            k = c.ring.send(fd, c.sent, n)
            if k <= 0:
                retries += 1
                continue
            if not first:
                first = now
            idx = c.index
            per_stream[idx] = per_stream.get(idx, 0) + k
            sent += k
            c.advance(k)
            progressed = True
        if progressed:
            last = monotonic()
            if any(c.done for c in cursors):
                cursors = [c for c in cursors if not c.done]
            continue
        nxt = min(c.due_time(c.sent) for c in cursors)
        wait = min(nxt, deadline) - monotonic()
        if wait > 0:
            sleep(min(wait, 0.05))
        else:
            sleep(20e-6)  # the kernel refused (ENOBUFS/EAGAIN): back off briefly
    sock.close()
    complete = not cursors or all(c.done for c in cursors)
    return {
        "worker": worker,
        "sent": sent,
        "per_stream": per_stream,
        "first": first,
        "last": last,
        "retries": retries,
        "stopped": stopped,
        "complete": complete and stopped == "done",
        "error": None,
    }


def run_profile(path: str | Path, interface: str, netns: str, tunables: dict[str, Any] | None = None, *, workers: int = 1) -> RunResult:
    """Shortcut: `LocalEngine(interface, netns=netns, workers=workers).run(path, tunables)`."""
    return LocalEngine(interface, netns=netns, workers=workers).run(path, tunables)


__all__: Sequence[str] = (
    "DEFAULT_PREFIXES",
    "Lane",
    "LocalEngine",
    "RunResult",
    "StreamPlan",
    "frame_ipv4_destination",
    "lane_sequence",
    "run_profile",
    "stream_base_packet",
    "to_stream_json",
)
