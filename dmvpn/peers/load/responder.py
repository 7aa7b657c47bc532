"""The null responder: the `generator` benchmark's DUT, in process (`NullResponder`) or in its own
process (`start_null_responder`, which runs `python -m dmvpn.peers.load null-responder`).

It turns each request into a reply by patching bytes (type 1/3/5 -> 2/4/6, outer addresses
swapped, NHRP checksum fixed incrementally per RFC 1624; the IPv4 checksum does not change when
addresses are swapped). It can drop every k-th request or the first copy of each request ID, for
loss and retransmission tests.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from dmvpn.transport.mmsg import MMSG_SIZE, MSG_DONTWAIT, recvmmsg, sendmmsg
from dmvpn.wire.checksum import checksum_adjust

from .io import SLOT, Slots

_ALLOWED3 = frozenset({b"\xc0\x00\x02", b"\xc6\x33\x64", b"\xcb\x00\x71"})  # 192.0.2, 198.51.100, 203.0.113


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
    rx = Slots(batch)
    tx = Slots(batch, with_names=True)
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
    msg_size = MMSG_SIZE
    while not stop and answered < args.max_packets:
        r = recvmmsg(fd, rx.addr, batch, MSG_DONTWAIT, None)
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
            w = sendmmsg(fd, tx.addr + done * msg_size, out - done, 0)
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
