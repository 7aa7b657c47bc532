"""Closed-loop control-plane load: many emulated spokes registering, refreshing and resolving.

One `LoadGenerator` speaks for N emulated spokes over one raw GRE socket (or an in-memory link):
it keeps up to `window` requests in flight, issues new ones at a target rate, matches replies by
request ID, times every exchange and retransmits on timeout with the same request ID (RFC 2332
§5.2.0.1). It never parses a reply beyond a few fixed offsets, and never builds a packet through
scapy or even the template's generic patcher on the hot path:

  * every spoke's request is precompiled once (`NhrpTemplate.build` per spoke: its outer NBMA, the
    claimed NBMA, its tunnel address) with request ID 0, together with the one's complement sum of
    its NHRP part; a request is that packet copied into a send slot, the request ID written at its
    fixed offset and the NHRP checksum set from sum + ID (+ the resolution target's address);
  * packets leave in batches (sendmmsg through ctypes on a raw IPv4 socket) and arrive in batches
    (recvmmsg); a reply is matched by the request ID read at its fixed offset, which gives the index
    into per-request arrays: the ID is base + sequence number * an odd stride (mod 2**32), unique per
    run and scattered, so that a DUT answering with a wrong ID (ID + 1, say) matches nothing; the
    reply must also carry the requesting spoke's tunnel address as its source protocol address;
  * timeouts are FIFO queues per attempt (every request on its k-th send has the same timeout, so
    each queue is sorted by deadline): no heap, no timer objects.

Accounting (`LoadResult`): requests issued, packets sent, retransmissions, replies matched (ok), NAKs
(a reply whose CIE code is not success), error indications about our requests, resolution requests
forwarded to the target spoke (the hub forwarded instead of answering: its work is done), losses
(no reply after the last attempt), late replies (after being counted lost), duplicates (a second
reply to an answered request), unmatched packets (not from the DUT, not ours, not the reply type
expected, or not naming the requesting spoke) and replies with a bad NHRP checksum (dropped).
Latency is from the first send of a request to its reply (loop timestamps, after each recvmmsg).

The null responder (`null_responder_main`, `python -m dmvpn.peers.load null-responder`) is the
`generator` benchmark's DUT: another process, in another namespace, that turns each request into a
reply by patching bytes (type 1/3/5 -> 2/4/6, outer addresses swapped, NHRP checksum fixed
incrementally per RFC 1624; the IPv4 checksum does not change when addresses are swapped). It can
drop every k-th request or the first copy of each request ID, for loss and retransmission tests.

Emulated spoke identities (`Identities.plan`): NBMA addresses come from the documentation ranges the
lab routes to the tester (192.0.2.128/25, 198.51.100.0/24, 203.0.113.0/24: 635 usable addresses).
Up to that many spokes each get their own NBMA address. Beyond it, spokes share NBMA addresses
behind an emulated NAT: each claims its own private NBMA address in the NHRP header (10.64.0.0/10,
inside the GRE payload only) while the packets come from the shared public one, exactly what a NAT
box in front of several spokes produces; FRR 8.4 records such a spoke as NBMA = the public address,
claimed NBMA = the private one. `nat="always"` (the registration benchmark's default) puts every
spoke behind the emulated NAT, so that FRR runs the same code path for every N. Tunnel addresses
come from 10.128.0.0/9 (FRR 8.4 accepts registrations for addresses outside its own tunnel prefix
and installs a /32 route and a kernel neighbour entry for each).
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import errno
import ipaddress
import math
import os
import secrets
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dmvpn.engines.sendmmsg import IoVec, MMsgHdr, _libc
from dmvpn.transport.interlock import Interlock
from dmvpn.wire.checksum import checksum_adjust
from dmvpn.wire import constants as C
from dmvpn.wire import templates as T

__all__ = [
    "DEFAULT_NBMA_POOL",
    "Identities",
    "LoadGenerator",
    "LoadResult",
    "MemoryIO",
    "NullResponder",
    "RawGreIO",
    "blocking_exchanges",
    "null_reply",
    "null_responder_main",
    "start_null_responder",
]

LAB_PREFIXES = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")

#: NBMA addresses an emulated spoke may use: what the lab routes to the tester (and the bench
#: namespaces route the same way). 192.0.2.255 is left out (the /24's broadcast for the hub).
DEFAULT_NBMA_POOL: tuple[str, ...] = tuple(
    [str(a) for a in ipaddress.IPv4Network("192.0.2.128/25") if str(a) != "192.0.2.255"]
    + [str(a) for a in ipaddress.IPv4Network("198.51.100.0/24").hosts()]
    + [str(a) for a in ipaddress.IPv4Network("203.0.113.0/24").hosts()]
)
DEFAULT_TUNNEL_NET = "10.128.0.0/9"
DEFAULT_CLAIMED_NET = "10.64.0.0/10"

# outcome codes per request
PENDING, OK, NAK, LOST, ERROR, FORWARDED = 0, 1, 2, 3, 4, 5
KIND_REGISTRATION, KIND_RESOLUTION = 0, 1
REQID_STRIDE = 0x9E3779B1  # odd: seq -> base + seq * stride is a bijection mod 2**32
REQID_INVERSE = pow(REQID_STRIDE, -1, 1 << 32)
KIND_NAMES = ("registration", "resolution")
_REPLY_TYPE = {KIND_REGISTRATION: C.PacketType.REGISTRATION_REPLY, KIND_RESOLUTION: C.PacketType.RESOLUTION_REPLY}

SLOT = 2048  # bytes per send/receive slot (NHRP control packets are far smaller)
MSG_DONTWAIT = 0x40
_ALLOWED3 = frozenset({b"\xc0\x00\x02", b"\xc6\x33\x64", b"\xcb\x00\x71"})  # 192.0.2, 198.51.100, 203.0.113


# --------------------------------------------------------------------------------------------------
# identities


@dataclass(frozen=True)
class Identities:
    """N emulated spokes: outer (post-NAT) NBMA, claimed NBMA and tunnel address, as 4-byte strings."""

    outer: tuple[bytes, ...]
    claimed: tuple[bytes, ...]
    proto: tuple[bytes, ...]

    def __len__(self) -> int:
        return len(self.proto)

    @property
    def natted(self) -> int:
        """How many spokes claim an NBMA address other than the one their packets come from."""
        return sum(o != c for o, c in zip(self.outer, self.claimed))

    @property
    def nbma_addresses(self) -> int:
        return len(set(self.outer))

    def text(self, i: int) -> tuple[str, str, str]:
        return socket.inet_ntoa(self.outer[i]), socket.inet_ntoa(self.claimed[i]), socket.inet_ntoa(self.proto[i])

    @classmethod
    def plan(
        cls,
        n: int,
        *,
        nbma_pool: Sequence[str] = DEFAULT_NBMA_POOL,
        tunnel_net: str = DEFAULT_TUNNEL_NET,
        claimed_net: str = DEFAULT_CLAIMED_NET,
        nat: str = "auto",
        offset: int = 0,
    ) -> Identities:
        """n spokes; nat "auto" (NAT only when n exceeds the pool), "always" or "never" (n <= pool).

        Spoke i has tunnel address tunnel_net[1 + offset + i]; its packets come from
        nbma_pool[i % len(pool)]; behind NAT it claims claimed_net[1 + offset + i].
        """
        if n < 1:
            raise ValueError("at least one spoke")
        pool = [socket.inet_aton(a) for a in nbma_pool]
        if not pool:
            raise ValueError("empty NBMA pool")
        natted = {"auto": n > len(pool), "always": True, "never": False}[nat]
        if not natted and n > len(pool):
            raise ValueError(f"{n} spokes without NAT need {n} NBMA addresses; the pool has {len(pool)}")
        tnet = ipaddress.IPv4Network(tunnel_net)
        cnet = ipaddress.IPv4Network(claimed_net)
        if offset + n + 1 >= tnet.num_addresses or (natted and offset + n + 1 >= cnet.num_addresses):
            raise ValueError(f"{n} spokes at offset {offset} do not fit {tunnel_net} / {claimed_net}")
        tbase, cbase = int(tnet.network_address), int(cnet.network_address)
        outer = tuple(pool[i % len(pool)] for i in range(n))
        proto = tuple((tbase + 1 + offset + i).to_bytes(4, "big") for i in range(n))
        claimed = tuple((cbase + 1 + offset + i).to_bytes(4, "big") for i in range(n)) if natted else outer
        return cls(outer, claimed, proto)


# --------------------------------------------------------------------------------------------------
# packet I/O: batches in and out of preallocated slots


class _Slots:
    """`count` slots of SLOT bytes in one bytearray, with the iovec/mmsghdr arrays pointing at them."""

    def __init__(self, count: int, with_names: bool = False) -> None:
        self.count = count
        self.buf = bytearray(count * SLOT)
        self._cbuf = (ctypes.c_char * len(self.buf)).from_buffer(self.buf)
        base = ctypes.addressof(self._cbuf)
        self.iov = (IoVec * count)()
        self.msgs = (MMsgHdr * count)()
        self.names = bytearray(16 * count) if with_names else None
        if with_names:
            self._cnames = (ctypes.c_char * len(self.names)).from_buffer(self.names)
            names_base = ctypes.addressof(self._cnames)
            for i in range(count):
                struct.pack_into("=H", self.names, 16 * i, socket.AF_INET)
        iov_size = ctypes.sizeof(IoVec)
        iov_base = ctypes.addressof(self.iov)
        for i in range(count):
            self.iov[i].iov_base = base + i * SLOT
            self.iov[i].iov_len = SLOT
            hdr = self.msgs[i].msg_hdr
            hdr.msg_iov = iov_base + i * iov_size
            hdr.msg_iovlen = 1
            if with_names:
                hdr.msg_name = names_base + 16 * i
                hdr.msg_namelen = 16
        self.addr = ctypes.addressof(self.msgs)
        # msg_len of message i as a plain read: a view of the mmsghdr array
        self._msgview = memoryview((ctypes.c_char * ctypes.sizeof(self.msgs)).from_address(self.addr)).cast("B")
        self._len_off = MMsgHdr.msg_len.offset
        self._size = ctypes.sizeof(MMsgHdr)

    def msg_len(self, i: int) -> int:
        return struct.unpack_from("=I", self._msgview, i * self._size + self._len_off)[0]

    def set_len(self, i: int, n: int) -> None:
        self.iov[i].iov_len = n


_recvmmsg = _libc.recvmmsg
_recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
_recvmmsg.restype = ctypes.c_int
_sendmmsg = _libc.sendmmsg


class RawGreIO:
    """A raw IPv4/GRE socket (IP_HDRINCL) in a namespace, sending to the DUT's NBMA address only.

    Sends go out in sendmmsg batches, every message addressed to `dut` (checked once by the
    interlock). Not connected: a connected raw socket would also bind its receiving address to the
    route's source, and replies go to the emulated spokes' many addresses. What arrives from
    anywhere but `dut` is counted as unmatched by the generator.
    """

    def __init__(self, dut: str, netns: str | None = None, *, interlock: Interlock | None = None,
                 batch: int = 64, rcvbuf: int = 8 << 20, sock: socket.socket | None = None) -> None:
        from dmvpn.transport.namespace import socket_in_netns

        (interlock or Interlock(LAB_PREFIXES)).check(dut)
        self.dut = dut
        self.sock = sock or socket_in_netns(netns, socket.AF_INET, socket.SOCK_RAW, 47)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 33, rcvbuf)  # SO_RCVBUFFORCE
            self.sock.setsockopt(socket.SOL_SOCKET, 32, rcvbuf)  # SO_SNDBUFFORCE
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.setblocking(False)
        self.fd = self.sock.fileno()
        self.batch = batch
        self.tx = _Slots(batch, with_names=True)
        self.source = socket.inet_aton(dut)
        for i in range(batch):
            self.tx.names[16 * i + 4 : 16 * i + 8] = self.source
        self.rx = _Slots(batch)
        self._poll = select.poll()
        self._poll.register(self.fd, select.POLLIN)
        self.send_errors = 0

    def flush(self, n: int) -> int:
        """Send tx slots 0..n-1 (their iov_len set by the caller); returns how many left.

        A full socket buffer is waited out for at most about a second; what still does not leave
        is not sent (those requests then time out like any lost one)."""
        done = 0
        stalls = 0
        while done < n:
            r = _sendmmsg(self.fd, self.tx.addr + done * ctypes.sizeof(MMsgHdr), n - done, 0)
            if r < 0:
                err = ctypes.get_errno()
                if err in (errno.EAGAIN, errno.ENOBUFS, errno.EINTR):
                    self.send_errors += 1
                    stalls += 1
                    if stalls > 5000:
                        break
                    if err != errno.EINTR:
                        time.sleep(0.0002)
                    continue
                raise OSError(err, f"sendmmsg: {os.strerror(err)}")
            done += r
        return done

    def receive(self, timeout: float) -> int:
        """Receive up to `batch` packets into the rx slots; wait up to `timeout` s for the first."""
        r = _recvmmsg(self.fd, self.rx.addr, self.batch, MSG_DONTWAIT, None)
        if r > 0:
            return r
        if timeout <= 0:
            return 0
        if not self._poll.poll(timeout * 1000.0):
            return 0
        r = _recvmmsg(self.fd, self.rx.addr, self.batch, MSG_DONTWAIT, None)
        return max(r, 0)

    def discard(self, limit: int = 1_000_000) -> int:
        """Drop what is already queued (late replies of an earlier run, replies to other sockets'
        requests: every raw GRE socket in the namespace gets a copy of every GRE packet)."""
        dropped = 0
        while dropped < limit:
            r = _recvmmsg(self.fd, self.rx.addr, self.batch, MSG_DONTWAIT, None)
            if r <= 0:
                break
            dropped += r
        return dropped

    def close(self) -> None:
        self.sock.close()


class MemoryIO:
    """The same slot interface in memory: each flushed packet goes to `responder(packet) -> replies`.

    `responder` is a callable or a sans-I/O `Peer` (FakeNHS, NullResponder): what it answers is
    handed out by `receive`, `delay` seconds later. Deterministic, for tests; with a fake clock
    (anything with `advance(seconds)`), waiting advances that clock instead of sleeping.
    """

    def __init__(self, responder: Any, batch: int = 64, clock: Callable[[], float] = time.monotonic,
                 delay: float = 0.0) -> None:
        if hasattr(responder, "receive"):
            peer = responder
            self.responder: Callable[[bytes], list[bytes]] = lambda pkt: peer.receive(pkt, clock())
        else:
            self.responder = responder
        self.clock = clock
        self.delay = delay
        self.held: collections.deque[tuple[float, bytes]] = collections.deque()
        self.batch = batch
        self.tx = _Slots(batch)
        self.rx = _Slots(batch)
        self.source: bytes | None = None  # accept replies from anywhere
        self.inbox: collections.deque[bytes] = collections.deque()
        self.sent: list[bytes] = []
        self.keep_sent = True
        self.send_errors = 0

    def flush(self, n: int) -> int:
        buf = self.tx.buf
        for i in range(n):
            pkt = bytes(buf[i * SLOT : i * SLOT + self.tx.iov[i].iov_len])
            if self.keep_sent:
                self.sent.append(pkt)
            if self.delay:
                due = self.clock() + self.delay
                self.held.extend((due, reply) for reply in self.responder(pkt))
            else:
                self.inbox.extend(self.responder(pkt))
        return n

    def receive(self, timeout: float) -> int:
        if self.held:
            now = self.clock()
            while self.held and self.held[0][0] <= now:
                self.inbox.append(self.held.popleft()[1])
        n = 0
        buf = self.rx.buf
        while self.inbox and n < self.batch:
            pkt = self.inbox.popleft()[:SLOT]
            buf[n * SLOT : n * SLOT + len(pkt)] = pkt
            struct.pack_into("=I", self.rx._msgview, n * self.rx._size + self.rx._len_off, len(pkt))
            n += 1
        if not n and timeout > 0:
            advance = getattr(self.clock, "advance", None)
            if advance is not None:
                advance(min(timeout, 0.001))
            else:
                time.sleep(min(timeout, 0.001))
        return n

    def discard(self, limit: int = 1_000_000) -> int:
        dropped = min(len(self.inbox), limit)
        for _ in range(dropped):
            self.inbox.popleft()
        return dropped

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------------------------------
# precompiled requests


def _nhrp_sum(packet: bytes, nhrp_off: int) -> int:
    """One's complement sum (mod 0xFFFF) of the NHRP part with its checksum field taken as zero."""
    part = bytearray(packet[nhrp_off:])
    part[12:14] = b"\0\0"
    n = int.from_bytes(part, "big")
    if len(part) & 1:
        n <<= 8
    return n % 0xFFFF


@dataclass
class _Compiled:
    packets: list[bytes]
    sums: list[int]
    nhrp_off: int
    reqid_off: int
    csum_off: int
    dst_off: int  # absolute offset of dst_proto (resolution target)
    length: int


def _compile(template: T.NhrpTemplate, ids: Identities, extra: Callable[[int], dict] | None = None) -> _Compiled:
    offsets = template.offsets
    nhrp_off = template.nhrp_offset
    packets, sums = [], []
    for i in range(len(ids)):
        values = {"outer_src": ids.outer[i], "src_nbma": ids.claimed[i], "src_proto": ids.proto[i], "reqid": 0}
        if extra:
            values.update(extra(i))
        pkt = template.build(**values)
        packets.append(pkt)
        sums.append(_nhrp_sum(pkt, nhrp_off))
    return _Compiled(packets, sums, nhrp_off, offsets["reqid"][0], nhrp_off + 12, offsets["dst_proto"][0], len(template))


# --------------------------------------------------------------------------------------------------
# results


@dataclass
class LoadResult:
    spokes: int
    offered_rate: float | None  # requests/s asked for (None: as fast as the window allows)
    window: int
    requests: int = 0  # new requests issued
    sent: int = 0  # packets sent (requests + retransmissions)
    retransmissions: int = 0
    ok: int = 0
    naks: int = 0
    errors: int = 0  # Error Indications about one of our requests
    forwarded: int = 0  # resolution requests the DUT forwarded to the target spoke
    lost: int = 0
    late: int = 0
    duplicates: int = 0
    unmatched: int = 0
    stale: int = 0  # packets already queued when the run started, dropped unread
    bad_checksum: int = 0  # replies whose NHRP checksum is wrong (not taken as replies)
    answered_after_retransmission: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)  # completed ok/forwarded per kind
    first_send: float = 0.0
    last_issue: float = 0.0
    last_reply: float = 0.0
    end: float = 0.0
    cpu_s: float = 0.0
    latencies: array = field(default_factory=lambda: array("d"))  # seconds, per ok/forwarded request
    send_errors: int = 0
    timed_out: bool = False  # the run hit max_seconds

    @property
    def completed(self) -> int:
        return self.ok + self.naks + self.errors + self.forwarded

    @property
    def answered(self) -> int:
        return self.completed

    @property
    def loss_ratio(self) -> float:
        return self.lost / self.requests if self.requests else 0.0

    @property
    def issue_seconds(self) -> float:
        return max(1e-9, self.last_issue - self.first_send)

    @property
    def exchange_seconds(self) -> float:
        """First send to the last reply (or the end, without replies)."""
        return max(1e-9, (self.last_reply or self.end) - self.first_send)

    @property
    def exchanges_per_s(self) -> float:
        return self.completed / self.exchange_seconds

    @property
    def achieved_rate(self) -> float:
        """New requests per second actually issued."""
        return self.requests / self.issue_seconds if self.requests > 1 else float(self.requests)

    def percentile_ms(self, q: float) -> float:
        if not self.latencies:
            return math.nan
        data = sorted(self.latencies)
        k = min(len(data) - 1, max(0, math.ceil(q / 100.0 * len(data)) - 1))
        return data[k] * 1000.0

    def summary(self) -> dict[str, Any]:
        return {
            "spokes": self.spokes, "offered_rate": self.offered_rate, "window": self.window,
            "requests": self.requests, "sent": self.sent, "retransmissions": self.retransmissions,
            "ok": self.ok, "naks": self.naks, "errors": self.errors, "forwarded": self.forwarded,
            "lost": self.lost, "late": self.late, "duplicates": self.duplicates, "unmatched": self.unmatched,
            "stale": self.stale, "bad_checksum": self.bad_checksum,
            "loss_ratio": round(self.loss_ratio, 6), "exchanges_per_s": round(self.exchanges_per_s, 1),
            "achieved_rate": round(self.achieved_rate, 1),
            "p50_ms": round(self.percentile_ms(50), 3), "p99_ms": round(self.percentile_ms(99), 3),
            "cpu_s": round(self.cpu_s, 3), "timed_out": self.timed_out,
        }


# --------------------------------------------------------------------------------------------------
# the generator


class LoadGenerator:
    """Closed-loop requests from many emulated spokes to one NHS (see the module docstring).

    `io`: a RawGreIO (or MemoryIO). `hub_nbma`/`hub_proto`: the NHS. Requests carry hop count 1,
    the GRE key, holding time and MTU given; registrations set U|NAT flags like FakeSpoke.
    """

    def __init__(
        self,
        io: RawGreIO | MemoryIO,
        ids: Identities,
        *,
        hub_nbma: str,
        hub_proto: str,
        gre_key: int | None = 42,
        holding_time: int = 600,
        mtu: int = 1400,
        unique: bool = True,
        nat_extension: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.io = io
        self.clock = clock
        self.ids = ids
        self.n = len(ids)
        flags = (C.RegistrationFlags.U if unique else 0) | C.RegistrationFlags.NAT
        o, c, p = ids.text(0)
        common = dict(outer_src=o, outer_dst=hub_nbma, src_nbma=c, src_proto=p, gre_key=gre_key, holding_time=holding_time, mtu=mtu)
        reg = T.registration_request(
            **common, dst_proto=hub_proto, reqid=0, flags=flags, hopcnt=1, prefix_len=0xFF if unique else 32,
            **({"nhs_nbma": hub_nbma, "nhs_proto": hub_proto} if nat_extension else {}),
        )
        res = T.resolution_request(**common, dst_proto="0.0.0.0", reqid=0, hopcnt=16, prefix_len=0xFF)
        self._reg = _compile(reg, ids)
        self._res = _compile(res, ids)
        self._proto_words = [int.from_bytes(p[:2], "big") + int.from_bytes(p[2:], "big") for p in ids.proto]
        self.registered = bytearray(self.n)  # spoke i has had a successful registration
        self._reqid_base = secrets.randbits(32)
        self.last_base = self._reqid_base
        self.last_status = bytearray()
        self.last_spokes = array("l")

    # -- the loop --------------------------------------------------------------------------------

    def run(
        self,
        *,
        count: int | None = None,
        duration: float | None = None,
        rate: float | None = None,
        window: int = 64,
        resolve_fraction: float = 0.0,
        first_spoke: int = 0,
        timeout: float = 1.0,
        retries: int = 0,
        backoff: float = 2.0,
        max_seconds: float = 120.0,
        drain: bool = True,
    ) -> LoadResult:
        """Issue requests until `count` are issued or `duration` s passed (at least one must be given).

        Spokes take turns (round robin from `first_spoke`): a spoke's first successful registration
        is a registration, later ones refreshes. A `resolve_fraction` of the requests are Resolution
        Requests for another spoke's tunnel address. `rate`: new requests per second (None: as fast
        as `window` in-flight requests allow). Each request is retransmitted up to `retries` times,
        after `timeout`, then timeout*backoff, ... s, with its request ID; it is lost when its last
        attempt times out. With `drain`, the run waits for every request's outcome. Never longer
        than `max_seconds` in all.
        """
        if count is None and duration is None:
            raise ValueError("give count or duration")
        if count is not None and count < 0:
            raise ValueError("count must be >= 0")
        if not 0 <= retries <= 250:
            raise ValueError("retries must be 0..250")
        window = max(1, int(window))
        io = self.io
        n_spokes = self.n
        batch = io.batch
        tx = io.tx
        txbuf = tx.buf
        rxbuf = io.rx.buf
        rx = io.rx
        set_len = tx.set_len
        pack_into = struct.pack_into
        unpack_from = struct.unpack_from
        reg, res = self._reg, self._res
        reg_pk, reg_sum, res_pk, res_sum = reg.packets, reg.sums, res.packets, res.sums
        reg_len, res_len = reg.length, res.length
        reg_roff, res_roff, reg_coff, res_coff, res_doff = reg.reqid_off, res.reqid_off, reg.csum_off, res.csum_off, res.dst_off
        proto_words = self._proto_words
        protos = self.ids.proto
        registered = self.registered
        base = self._reqid_base
        self.last_base = base
        self._reqid_base = secrets.randbits(32)  # the next run's IDs differ
        timeouts = [timeout * backoff**k for k in range(retries + 1)]
        queues: list[collections.deque[int]] = [collections.deque() for _ in range(retries + 1)]
        max_sends = retries + 1

        # per request (index = sequence number = (reqid - base) * REQID_INVERSE mod 2**32)
        t_first = array("d")
        t_last = array("d")
        spoke_of = array("l")
        target_of = array("l")
        kind_of = bytearray()
        status = bytearray()
        sends = bytearray()
        latencies = array("d")

        result = LoadResult(n_spokes, rate, window)
        result.stale = io.discard()
        send_errors0 = io.send_errors
        by_kind = {"registration": 0, "refresh": 0, "resolution": 0}
        res_acc = 0.0
        issued = 0
        inflight = 0
        slot = 0  # tx slots filled so far in this batch
        clock = self.clock
        cpu0 = time.process_time()
        t0 = clock()
        hard_end = t0 + max_seconds
        stop_issue = t0 + duration if duration is not None else math.inf
        limit = count if count is not None else (1 << 62)
        rate_f = float(rate) if rate else 0.0
        next_spoke = first_spoke % n_spokes
        result.first_send = t0
        ok = naks = errs = fwd = lost = late = dup = unmatched = retrans = after_retx = bad_checksum = 0
        last_reply = 0.0
        exp_reg, exp_res = int(C.PacketType.REGISTRATION_REPLY), int(C.PacketType.RESOLUTION_REPLY)
        t_req_res, t_err = int(C.PacketType.RESOLUTION_REQUEST), int(C.PacketType.ERROR_INDICATION)
        now = t0
        issuing = True
        flush = io.flush
        source = io.source

        def fill(i: int, seq: int, slot: int) -> None:
            # write request `seq` (spoke i) into tx slot `slot`
            off = slot * SLOT
            reqid = (base + seq * REQID_STRIDE) & 0xFFFFFFFF
            if kind_of[seq] == KIND_REGISTRATION:
                txbuf[off : off + reg_len] = reg_pk[i]
                pack_into(">I", txbuf, off + reg_roff, reqid)
                r = (reg_sum[i] + (reqid >> 16) + (reqid & 0xFFFF)) % 0xFFFF
                pack_into(">H", txbuf, off + reg_coff, 0xFFFF - r if r else 0)
                set_len(slot, reg_len)
            else:
                tgt = target_of[seq]
                txbuf[off : off + res_len] = res_pk[i]
                pack_into(">I", txbuf, off + res_roff, reqid)
                txbuf[off + res_doff : off + res_doff + 4] = protos[tgt]
                r = (res_sum[i] + (reqid >> 16) + (reqid & 0xFFFF) + proto_words[tgt]) % 0xFFFF
                pack_into(">H", txbuf, off + res_coff, 0xFFFF - r if r else 0)
                set_len(slot, res_len)

        while True:
            now = clock()
            if now >= hard_end:
                result.timed_out = True
                break
            # 1. timeouts: retransmit with the same request ID, or count as lost
            for level in range(max_sends):
                q = queues[level]
                tk = timeouts[level]
                while q and t_last[q[0]] + tk <= now:
                    seq = q.popleft()
                    if status[seq] != PENDING:
                        continue
                    if level + 1 < max_sends:
                        if slot == batch:
                            result.sent += flush(slot)
                            slot = 0
                        fill(spoke_of[seq], seq, slot)
                        slot += 1
                        sends[seq] += 1
                        t_last[seq] = now
                        queues[level + 1].append(seq)
                        retrans += 1
                    else:
                        status[seq] = LOST
                        lost += 1
                        inflight -= 1
            # 2. new requests within the rate and the window
            if issuing:
                if issued >= limit or now >= stop_issue:
                    issuing = False
                    result.last_issue = now if issued else t0
                else:
                    allowed = limit - issued
                    free = window - inflight
                    if free < allowed:
                        allowed = free
                    if rate_f:
                        due = int((now - t0) * rate_f) + 1 - issued
                        if due < allowed:
                            allowed = due
                    while allowed > 0:
                        if slot == batch:
                            result.sent += flush(slot)
                            slot = 0
                        i = next_spoke
                        next_spoke = i + 1 if i + 1 < n_spokes else 0
                        seq = issued
                        kind = KIND_REGISTRATION
                        tgt = -1
                        if resolve_fraction:
                            res_acc += resolve_fraction
                            if res_acc >= 1.0:
                                res_acc -= 1.0
                                kind = KIND_RESOLUTION
                                tgt = (i * 7919 + seq + 1) % n_spokes
                                if tgt == i:
                                    tgt = (tgt + 1) % n_spokes
                        kind_of.append(kind)
                        spoke_of.append(i)
                        target_of.append(tgt)
                        status.append(PENDING)
                        sends.append(1)
                        t_first.append(now)
                        t_last.append(now)
                        fill(i, seq, slot)
                        slot += 1
                        queues[0].append(seq)
                        issued += 1
                        inflight += 1
                        allowed -= 1
                    result.last_issue = now
            if slot:
                result.sent += flush(slot)
                slot = 0
            # 3. replies
            if not issuing and (inflight == 0 or not drain):
                break
            wait = 0.0
            if not issuing or inflight >= window:
                heads = [t_last[q[0]] + timeouts[k] for k, q in enumerate(queues) if q]
                wait = max(0.0, min(heads) - now) if heads else 0.01
            elif rate_f:
                wait = max(0.0, (issued + 1 - (now - t0) * rate_f) / rate_f) if issued < limit else 0.0
            got = io.receive(min(wait, 0.05, hard_end - now))
            if not got:
                continue
            now = clock()
            for k in range(got):
                off = k * SLOT
                if source is not None and rxbuf[off + 12 : off + 16] != source:
                    unmatched += 1
                    continue
                b0 = rxbuf[off]
                if b0 != 0x45:
                    ihl = (b0 & 0x0F) * 4
                else:
                    ihl = 20
                g = rxbuf[off + ihl]
                nh = off + ihl + 4 + (4 if g & 0x80 else 0) + (4 if g & 0x20 else 0) + (4 if g & 0x10 else 0)
                if rxbuf[off + ihl + 2] != 0x20 or rxbuf[off + ihl + 3] != 0x01:
                    unmatched += 1
                    continue
                op = rxbuf[nh + 17]
                if op == t_err:
                    # the offending packet follows the indication's addresses; its reqid is at +24
                    a = nh + 28 + (rxbuf[nh + 18] & 0x3F) + (rxbuf[nh + 19] & 0x3F) + rxbuf[nh + 20] + rxbuf[nh + 21]
                    if a + 28 > off + rx.msg_len(k):
                        unmatched += 1
                        continue
                    seq = ((unpack_from(">I", rxbuf, a + 24)[0] - base) * REQID_INVERSE) & 0xFFFFFFFF
                else:
                    seq = ((unpack_from(">I", rxbuf, nh + 24)[0] - base) * REQID_INVERSE) & 0xFFFFFFFF
                if seq >= issued:
                    unmatched += 1
                    continue
                size = (rxbuf[nh + 10] << 8) | rxbuf[nh + 11]
                if size < 28 or nh + size > off + rx.msg_len(k):
                    unmatched += 1
                    continue
                whole = int.from_bytes(rxbuf[nh : nh + size], "big")
                if (whole << 8 if size & 1 else whole) % 0xFFFF:
                    bad_checksum += 1  # RFC 2332 §5.1: a receiver drops it
                    continue
                kind = kind_of[seq]
                st = status[seq]
                if op != t_err:
                    sp = nh + 28 + (rxbuf[nh + 18] & 0x3F) + (rxbuf[nh + 19] & 0x3F)
                    if rxbuf[sp : sp + 4] != protos[spoke_of[seq]]:
                        unmatched += 1  # another spoke's request ID: not this request's reply
                        continue
                if op == t_err:
                    outcome = ERROR
                elif kind == KIND_REGISTRATION:
                    if op != exp_reg:
                        unmatched += 1
                        continue
                    cie = nh + 28 + (rxbuf[nh + 18] & 0x3F) + (rxbuf[nh + 19] & 0x3F) + rxbuf[nh + 20] + rxbuf[nh + 21]
                    outcome = OK if rxbuf[cie] == 0 else NAK
                elif op == exp_res:
                    cie = nh + 28 + (rxbuf[nh + 18] & 0x3F) + (rxbuf[nh + 19] & 0x3F) + rxbuf[nh + 20] + rxbuf[nh + 21]
                    outcome = OK if rxbuf[cie] == 0 else NAK
                elif op == t_req_res:
                    outcome = FORWARDED
                else:
                    unmatched += 1
                    continue
                if st != PENDING:
                    if st == LOST:
                        late += 1
                    else:
                        dup += 1
                    continue
                status[seq] = outcome
                inflight -= 1
                last_reply = now
                if sends[seq] > 1:
                    after_retx += 1
                if outcome == OK or outcome == FORWARDED:
                    latencies.append(now - t_first[seq])
                    if outcome == OK:
                        ok += 1
                    else:
                        fwd += 1
                    if kind == KIND_REGISTRATION:
                        i = spoke_of[seq]
                        if registered[i]:
                            by_kind["refresh"] += 1
                        else:
                            registered[i] = 1
                            by_kind["registration"] += 1
                    else:
                        by_kind["resolution"] += 1
                elif outcome == NAK:
                    naks += 1
                else:
                    errs += 1
        result.end = clock()
        if issuing:
            result.last_issue = result.end
        result.cpu_s = time.process_time() - cpu0
        result.requests = issued
        result.ok, result.naks, result.errors, result.forwarded = ok, naks, errs, fwd
        result.lost, result.late, result.duplicates, result.unmatched = lost, late, dup, unmatched
        result.retransmissions = retrans
        result.bad_checksum = bad_checksum
        result.answered_after_retransmission = after_retx
        result.last_reply = last_reply
        result.latencies = latencies
        result.by_kind = by_kind
        result.send_errors = io.send_errors - send_errors0
        self.last_status = status
        self.last_spokes = spoke_of
        return result

    def reqid(self, seq: int) -> int:
        """The request ID the last run gave its request number `seq`."""
        return (self.last_base + seq * REQID_STRIDE) & 0xFFFFFFFF


# --------------------------------------------------------------------------------------------------
# the null responder


def null_reply(packet: bytes | bytearray) -> bytes | None:
    """The reply a null responder sends for `packet`: type +1, outer addresses swapped, checksum fixed.

    Only requests (types 1, 3, 5) are answered; anything else gives None. The IPv4 header checksum
    stays valid (swapping two 16-bit-aligned fields does not change the sum); the NHRP checksum is
    updated incrementally (RFC 1624, eqn. 3) for the one changed word (version, type).
    """
    if len(packet) < 24 or packet[9] != 47:
        return None
    data = bytearray(packet)
    ihl = (data[0] & 0x0F) * 4
    g = data[ihl]
    if data[ihl + 2 : ihl + 4] != b"\x20\x01":
        return None
    nh = ihl + 4 + (4 if g & 0x80 else 0) + (4 if g & 0x20 else 0) + (4 if g & 0x10 else 0)
    if len(data) < nh + 20:
        return None
    op = data[nh + 17]
    if op not in (1, 3, 5):
        return None
    old = (data[nh + 16] << 8) | op
    data[nh + 17] = op + 1
    hc = (data[nh + 12] << 8) | data[nh + 13]
    struct.pack_into(">H", data, nh + 12, checksum_adjust(hc, old, old + 1))
    data[12:16], data[16:20] = packet[16:20], packet[12:16]
    return bytes(data)


class NullResponder:
    """In-process null responder (a sans-I/O peer): `receive(packet, now)` -> [reply] or [].

    drop_every=k drops every k-th request received; drop_first drops the first copy of each request
    ID (so every answered request needed a retransmission); duplicate answers twice.
    """

    addresses: tuple[str, ...] = ()

    def __init__(self, drop_every: int = 0, drop_first: bool = False, duplicate: bool = False) -> None:
        self.drop_every = drop_every
        self.drop_first = drop_first
        self.duplicate = duplicate
        self.received = 0
        self.dropped = 0
        self.answered = 0
        self._seen: set[bytes] = set()

    def receive(self, packet: bytes, now: float = 0.0) -> list[bytes]:
        self.received += 1
        if self.drop_every and self.received % self.drop_every == 0:
            self.dropped += 1
            return []
        reply = null_reply(packet)
        if reply is None:
            return []
        if self.drop_first:
            key = _reqid_key(packet)
            if key not in self._seen:
                self._seen.add(key)
                self.dropped += 1
                return []
        self.answered += 1
        return [reply, reply] if self.duplicate else [reply]


def _reqid_key(packet: bytes) -> bytes:
    ihl = (packet[0] & 0x0F) * 4
    g = packet[ihl]
    nh = ihl + 4 + (4 if g & 0x80 else 0) + (4 if g & 0x20 else 0) + (4 if g & 0x10 else 0)
    return bytes(packet[12:16]) + bytes(packet[nh + 24 : nh + 28])


def null_responder_main(argv: Sequence[str] | None = None) -> int:
    """`python -m dmvpn.peers.load null-responder --netns NS`: answer every request, batch by batch.

    Prints "ready" once its socket is open, then runs until SIGTERM, stdin closing or --max-seconds.
    Replies go only to 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24 (others are dropped).
    Sends at most one reply per request received (bounded by what it is sent), at most --max-packets.
    """
    parser = argparse.ArgumentParser(prog="dmvpn.peers.load null-responder")
    parser.add_argument("--netns", default=None)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--max-packets", type=int, default=50_000_000)
    parser.add_argument("--drop-every", type=int, default=0)
    parser.add_argument("--drop-first", action="store_true")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        try:
            os.sched_setaffinity(0, {args.cpu})
        except OSError:
            pass
    from dmvpn.transport.namespace import socket_in_netns

    sock = socket_in_netns(args.netns, socket.AF_INET, socket.SOCK_RAW, 47)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    for opt in (33, 32):  # SO_RCVBUFFORCE, SO_SNDBUFFORCE
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
        except OSError:
            pass
    sock.setblocking(False)
    fd = sock.fileno()
    batch = max(1, args.batch)
    rx = _Slots(batch)
    tx = _Slots(batch, with_names=True)
    rxbuf, txbuf, names = rx.buf, tx.buf, tx.names
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    if not sys.stdin.closed:
        try:
            poll.register(sys.stdin.fileno(), select.POLLIN | select.POLLHUP)
        except (OSError, ValueError):
            pass
    print("ready", flush=True)
    end = time.monotonic() + args.max_seconds
    received = answered = dropped = 0
    seen: set[bytes] = set()
    msg_size = ctypes.sizeof(MMsgHdr)
    while not stop and answered < args.max_packets:
        r = _recvmmsg(fd, rx.addr, batch, MSG_DONTWAIT, None)
        if r <= 0:
            if time.monotonic() > end:
                break
            events = poll.poll(200)
            if any(f != fd for f, _ in events):
                break  # stdin closed or readable: the parent is done with us
            continue
        out = 0
        for k in range(r):
            received += 1
            if args.drop_every and received % args.drop_every == 0:
                dropped += 1
                continue
            off = k * SLOT
            n = rx.msg_len(k)
            ihl = (rxbuf[off] & 0x0F) * 4
            g = rxbuf[off + ihl]
            nh = ihl + 4 + (4 if g & 0x80 else 0) + (4 if g & 0x20 else 0) + (4 if g & 0x10 else 0)
            if n < nh + 28 or rxbuf[off + ihl + 2] != 0x20 or rxbuf[off + ihl + 3] != 0x01:
                continue
            op = rxbuf[off + nh + 17]
            if op not in (1, 3, 5):
                continue
            src = bytes(rxbuf[off + 12 : off + 16])
            if src[:3] not in _ALLOWED3:
                continue
            if args.drop_first:
                key = src + bytes(rxbuf[off + nh + 24 : off + nh + 28])
                if key not in seen:
                    seen.add(key)
                    dropped += 1
                    continue
            o = out * SLOT
            txbuf[o : o + n] = rxbuf[off : off + n]
            old = (txbuf[o + nh + 16] << 8) | op
            txbuf[o + nh + 17] = op + 1
            hc = (txbuf[o + nh + 12] << 8) | txbuf[o + nh + 13]
            adjusted = checksum_adjust(hc, old, old + 1)
            txbuf[o + nh + 12] = adjusted >> 8
            txbuf[o + nh + 13] = adjusted & 0xFF
            txbuf[o + 12 : o + 16] = rxbuf[off + 16 : off + 20]
            txbuf[o + 16 : o + 20] = src
            names[16 * out + 4 : 16 * out + 8] = src
            tx.iov[out].iov_len = n
            out += 1
        done = stalls = 0
        while done < out and stalls < 5000:
            w = _sendmmsg(fd, tx.addr + done * msg_size, out - done, 0)
            if w < 0:
                err = ctypes.get_errno()
                if err in (errno.EAGAIN, errno.ENOBUFS, errno.EINTR):
                    stalls += 1
                    time.sleep(0.0002)
                    continue
                break
            done += w
        answered += done
    print(f"received {received} answered {answered} dropped {dropped}", flush=True)
    return 0


@dataclass
class ResponderProcess:
    proc: subprocess.Popen

    def stop(self) -> str:
        """Stop the responder (our own child, by its pid) and return its last words."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        out = self.proc.stdout.read() if self.proc.stdout else ""  # type: ignore[union-attr]
        return out.strip()


def start_null_responder(netns: str, *, cpu: int | None = None, drop_every: int = 0, drop_first: bool = False,
                         max_seconds: float = 300.0) -> ResponderProcess:
    """Start the null responder in another process inside `netns`; returns once it listens."""
    argv = [sys.executable, "-m", "dmvpn.peers.load", "null-responder", "--netns", netns, "--max-seconds", str(max_seconds)]
    if cpu is not None:
        argv += ["--cpu", str(cpu)]
    if drop_every:
        argv += ["--drop-every", str(drop_every)]
    if drop_first:
        argv.append("--drop-first")
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # type: ignore[union-attr]
    if line.strip() != "ready":
        proc.kill()
        proc.wait()
        err = proc.stderr.read() if proc.stderr else ""  # type: ignore[union-attr]
        raise RuntimeError(f"null responder did not start: {line!r} {err.strip()[-500:]}")
    return ResponderProcess(proc)


# --------------------------------------------------------------------------------------------------
# the blocking baseline


def blocking_exchanges(sock: socket.socket, ids: Identities, *, hub_nbma: str, hub_proto: str, count: int,
                       gre_key: int | None = 42, timeout: float = 0.5, max_seconds: float = 60.0) -> tuple[int, int, float]:
    """The plain loop one would write first: build (NhrpTemplate.build), sendto, blocking recv, check.

    One request at a time over `sock` (a raw GRE socket, IP_HDRINCL). Returns (answered, lost,
    seconds).
    """
    o, c, p = ids.text(0)
    template = T.registration_request(outer_src=o, outer_dst=hub_nbma, src_nbma=c, src_proto=p, dst_proto=hub_proto,
                                      gre_key=gre_key, hopcnt=1, prefix_len=0xFF, nhs_nbma=hub_nbma, nhs_proto=hub_proto)
    nhrp_off = template.nhrp_offset
    sock.setblocking(True)
    sock.settimeout(timeout)
    answered = lost = 0
    base = secrets.randbits(31)
    n = len(ids)
    t0 = time.monotonic()
    end = t0 + max_seconds
    for k in range(count):
        if time.monotonic() > end:
            break
        i = k % n
        reqid = (base + k) & 0xFFFFFFFF
        packet = template.build(outer_src=ids.outer[i], src_nbma=ids.claimed[i], src_proto=ids.proto[i], reqid=reqid)
        sock.sendto(packet, (hub_nbma, 0))
        while True:
            try:
                reply = sock.recv(2048)
            except (socket.timeout, BlockingIOError):
                lost += 1
                break
            if struct.unpack_from(">I", reply, nhrp_off + 24)[0] == reqid and reply[nhrp_off + 17] == 4:
                answered += 1
                break
    return answered, lost, time.monotonic() - t0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "null-responder":
        sys.exit(null_responder_main(sys.argv[2:]))
    print("usage: python -m dmvpn.peers.load null-responder --netns NS [...]", file=sys.stderr)
    sys.exit(2)
