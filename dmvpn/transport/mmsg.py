"""sendmmsg(2) and recvmmsg(2) through ctypes: the structures and the two calls, nothing more.

Python's socket module sends and receives one datagram per call; these send or receive a whole
array of `struct mmsghdr` in one system call. Shared by the local engine's frame rings
(dmvpn.engines.sendmmsg) and the closed-loop load generator's slots (dmvpn.peers.load).
Both calls return -1 with `ctypes.get_errno()` set on failure.
"""

from __future__ import annotations

import ctypes
import ctypes.util

MSG_DONTWAIT = 0x40


class IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class MsgHdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.c_void_p),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class MMsgHdr(ctypes.Structure):
    _fields_ = [("msg_hdr", MsgHdr), ("msg_len", ctypes.c_uint)]


MMSG_SIZE = ctypes.sizeof(MMsgHdr)

libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)

#: sendmmsg(fd, msgvec, vlen, flags) -> messages sent, or -1
sendmmsg = libc.sendmmsg
sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
sendmmsg.restype = ctypes.c_int

#: recvmmsg(fd, msgvec, vlen, flags, timeout) -> messages received, or -1
recvmmsg = libc.recvmmsg
recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
recvmmsg.restype = ctypes.c_int

__all__ = ["IoVec", "MMSG_SIZE", "MMsgHdr", "MSG_DONTWAIT", "MsgHdr", "libc", "recvmmsg", "sendmmsg"]
