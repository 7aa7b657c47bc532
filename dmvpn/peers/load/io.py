"""Packet I/O of the load generator: batches in and out of preallocated slots.

`RawGreIO` is a raw IPv4/GRE socket sending with sendmmsg(2) and receiving with recvmmsg(2)
(dmvpn.transport.mmsg); `MemoryIO` offers the same slot interface in memory, for tests. Both hand
the generator `tx`/`rx` `Slots`: SLOT bytes per packet in one bytearray, with the iovec/mmsghdr
arrays pointing at them, so a batch is one system call with no per-packet allocation.
"""

from __future__ import annotations

import collections
import ctypes
import errno
import os
import select
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from dmvpn.transport.interlock import Interlock
from dmvpn.transport.mmsg import MMSG_SIZE, MSG_DONTWAIT, IoVec, MMsgHdr, recvmmsg, sendmmsg

from .identities import LAB_PREFIXES

SLOT = 2048  # bytes per send/receive slot (NHRP control packets are far smaller)


class Slots:
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
        self._size = MMSG_SIZE

    def msg_len(self, i: int) -> int:
        return struct.unpack_from("=I", self._msgview, i * self._size + self._len_off)[0]

    def set_len(self, i: int, n: int) -> None:
        self.iov[i].iov_len = n


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
        self.tx = Slots(batch, with_names=True)
        self.source = socket.inet_aton(dut)
        for i in range(batch):
            self.tx.names[16 * i + 4 : 16 * i + 8] = self.source
        self.rx = Slots(batch)
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
            r = sendmmsg(self.fd, self.tx.addr + done * MMSG_SIZE, n - done, 0)
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
        r = recvmmsg(self.fd, self.rx.addr, self.batch, MSG_DONTWAIT, None)
        if r > 0:
            return r
        if timeout <= 0:
            return 0
        if not self._poll.poll(timeout * 1000.0):
            return 0
        r = recvmmsg(self.fd, self.rx.addr, self.batch, MSG_DONTWAIT, None)
        return max(r, 0)

    def discard(self, limit: int = 1_000_000) -> int:
        """Drop what is already queued (late replies of an earlier run, replies to other sockets'
        requests: every raw GRE socket in the namespace gets a copy of every GRE packet)."""
        dropped = 0
        while dropped < limit:
            r = recvmmsg(self.fd, self.rx.addr, self.batch, MSG_DONTWAIT, None)
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
        self.tx = Slots(batch)
        self.rx = Slots(batch)
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


_Slots = Slots  # the name it had in the single-module dmvpn.peers.load
