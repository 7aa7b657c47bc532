"""Batched AF_PACKET transmission with sendmmsg(2) through ctypes.

`FrameRing` lays out a cyclic sequence of frames so that any window of up to `batch` consecutive
frames, starting anywhere in the cycle, is one contiguous array of `struct mmsghdr`: sending the
next n frames is a single `sendmmsg(fd, &msgs[pos], n, 0)` call with no per-packet Python work.
Python's socket module has no sendmmsg (socket.sendmsg sends one datagram per call), hence ctypes.
The socket must be bound to its interface (msg_name stays NULL). The ctypes bindings themselves
are in dmvpn.transport.mmsg.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
from collections.abc import Sequence

from dmvpn.transport.mmsg import MMSG_SIZE, IoVec, MMsgHdr, MsgHdr
from dmvpn.transport.mmsg import sendmmsg as _sendmmsg

SOL_PACKET = 263
PACKET_QDISC_BYPASS = 20
SO_SNDBUFFORCE = 32
SIOCGIFHWADDR = 0x8927
SIOCGIFMTU = 0x8921

__all__ = ["FrameRing", "IoVec", "MMSG_SIZE", "MMsgHdr", "MsgHdr", "interface_mac", "interface_mtu", "open_packet_socket"]


class FrameRing:
    """A cyclic frame sequence ready for sendmmsg; `send(fd, pos, n)` sends frames pos .. pos+n-1 (mod len)."""

    def __init__(self, frames: Sequence[bytes], batch: int) -> None:
        if not frames:
            raise ValueError("no frames")
        self.length = len(frames)
        self.batch = max(1, batch)
        entries = self.length + self.batch - 1
        # one copy of each distinct frame object, in one buffer
        slots: dict[int, tuple[int, int]] = {}
        blob = bytearray()
        where = []
        for f in frames:
            key = id(f)
            if key not in slots:
                slots[key] = (len(blob), len(f))
                blob += f
            where.append(slots[key])
        self._data = ctypes.create_string_buffer(bytes(blob), max(1, len(blob)))
        base = ctypes.addressof(self._data)
        self._iov = (IoVec * entries)()
        self._msgs = (MMsgHdr * entries)()
        iov_base = ctypes.addressof(self._iov)
        iov_size = ctypes.sizeof(IoVec)
        for i in range(entries):
            off, size = where[i % self.length]
            iov = self._iov[i]
            iov.iov_base = base + off
            iov.iov_len = size
            hdr = self._msgs[i].msg_hdr
            hdr.msg_iov = iov_base + i * iov_size
            hdr.msg_iovlen = 1
        self._msgs_addr = ctypes.addressof(self._msgs)
        self._frames = frames  # keep the originals alive for callers that index them

    def send(self, fd: int, pos: int, n: int) -> int:
        """Frames pos .. pos+n-1 of the cycle (n <= batch); returns how many the kernel took (>= 0)."""
        if n > self.batch:
            n = self.batch
        r = _sendmmsg(fd, self._msgs_addr + (pos % self.length) * MMSG_SIZE, n, 0)
        if r < 0:
            err = ctypes.get_errno()
            if err in (errno.EAGAIN, errno.ENOBUFS, errno.EINTR):
                return 0
            raise OSError(err, f"sendmmsg: {os.strerror(err)}")
        return r


def open_packet_socket(ifname: str, *, qdisc_bypass: bool = True, sndbuf: int = 4 << 20) -> socket.socket:
    """An AF_PACKET/SOCK_RAW socket bound to `ifname` for sending whole Ethernet frames (receives nothing)."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        sock.bind((ifname, 0))
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, sndbuf)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        if qdisc_bypass:
            try:
                sock.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
            except OSError:
                pass
    except Exception:
        sock.close()
        raise
    return sock


def interface_mac(sock: socket.socket, ifname: str) -> bytes:
    import fcntl

    res = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR, struct.pack("256s", ifname.encode()))
    return res[18:24]


def interface_mtu(sock: socket.socket, ifname: str) -> int:
    import fcntl

    res = fcntl.ioctl(sock.fileno(), SIOCGIFMTU, struct.pack("16sI20x", ifname.encode(), 0))
    return struct.unpack_from("I", res, 16)[0]
