"""Entering a network namespace for the current thread (setns), and sockets that stay there.

A socket belongs to the namespace it was created in, whatever the thread does next; so the tester
opens its raw sockets inside the lab's namespace and carries on in the host namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
from collections.abc import Iterator

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"

_libc = ctypes.CDLL(None, use_errno=True)
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def in_netns(ns: str | None) -> Iterator[None]:
    """Run the body with the current thread in network namespace `ns` (None: stay where we are)."""
    if ns is None:
        yield
        return
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        try:
            target = os.open(os.path.join(NETNS_DIR, ns), os.O_RDONLY)
        except FileNotFoundError:
            raise FileNotFoundError(f"network namespace {ns} does not exist") from None
        try:
            _setns(target)
            try:
                yield
            finally:
                _setns(own)
        finally:
            os.close(target)
    finally:
        os.close(own)


def socket_in_netns(ns: str | None, family: int, type: int, proto: int = 0) -> socket.socket:
    """A socket created inside `ns`; it stays there while the caller carries on outside."""
    with in_netns(ns):
        return socket.socket(family, type, proto)
