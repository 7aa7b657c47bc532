"""The closed-loop generator: precompiled requests, the send/receive loop, reply matching.

`LoadGenerator.run` is one function on purpose: it is the hot loop (every name it uses is a local
variable bound before the loop), about 25 000 exchanges per second on one core here. What it does,
step by step, is in dmvpn.peers.load's docstring.
"""

from __future__ import annotations

import collections
import math
import secrets
import struct
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass

from dmvpn.wire import constants as C
from dmvpn.wire import templates as T

from .identities import Identities
from .io import SLOT, MemoryIO, RawGreIO
from .result import LoadResult

# outcome codes per request
PENDING, OK, NAK, LOST, ERROR, FORWARDED = 0, 1, 2, 3, 4, 5
KIND_REGISTRATION, KIND_RESOLUTION = 0, 1
REQID_STRIDE = 0x9E3779B1  # odd: seq -> base + seq * stride is a bijection mod 2**32
REQID_INVERSE = pow(REQID_STRIDE, -1, 1 << 32)
KIND_NAMES = ("registration", "resolution")
_REPLY_TYPE = {KIND_REGISTRATION: C.PacketType.REGISTRATION_REPLY, KIND_RESOLUTION: C.PacketType.RESOLUTION_REPLY}


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
