"""Host side of the lab network: one namespace with a bridge, taps and the tester's addresses.

Also the tester's way in: :func:`in_netns` switches the *current thread* into the lab namespace
(``setns`` with ``CLONE_NEWNET``), :func:`socket_in_netns` opens a socket there and switches back.
A socket keeps the namespace it was created in, so a test can hold a raw GRE socket inside the lab
while the rest of the process stays in the host namespace. No ``ip netns exec`` around pytest.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

from dmvpn.transport.namespace import NETNS_DIR
from dmvpn.transport.namespace import in_netns as _in_netns
from dmvpn.transport.namespace import socket_in_netns as _socket_in_netns

from .errors import LabError
from .mounts import umount

BRIDGE = "br0"

T = TypeVar("T")


def ip(*args: str, ns: str | None = None, batch: list[str] | None = None,
       check: bool = True) -> subprocess.CompletedProcess:
    """Run ``ip [-n NS] ARGS`` (or ``ip [-n NS] -batch -`` with ``batch`` lines)."""
    argv = ["ip"] + (["-n", ns] if ns else [])
    if batch is not None:
        argv += ["-batch", "-"]
    argv += list(args)
    proc = subprocess.run(argv, input="\n".join(batch) + "\n" if batch is not None else None,
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        what = " ".join(argv) if batch is None else f"{' '.join(argv)} ({batch!r})"
        raise LabError(f"{what} failed: {(proc.stderr or proc.stdout).strip()}")
    return proc


def namespace_exists(ns: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, ns))


def list_namespaces() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def create_lab_namespace(ns: str, taps: list[str], addresses: list[str],
                         local_routes: list[str]) -> None:
    """Namespace ``ns`` with lo, bridge br0 (``addresses`` on it), one tap per guest, and
    ``local_routes`` (prefixes the tester answers for without adding each address)."""
    ip("netns", "add", ns)
    # No IPv6 on the lab LAN: the host side would chatter (router solicitations, MLD) and blur
    # the interface counters tests read.
    with in_netns(ns):
        for conf in ("all", "default"):
            with open(f"/proc/sys/net/ipv6/conf/{conf}/disable_ipv6", "w") as fh:
                fh.write("1\n")
    batch = ["link set lo up", f"link add {BRIDGE} type bridge",
             f"link set {BRIDGE} type bridge forward_delay 0 stp_state 0", f"link set {BRIDGE} up"]
    batch += [f"addr add {a} dev {BRIDGE}" for a in addresses]
    for tap in taps:
        batch += [f"tuntap add {tap} mode tap", f"link set {tap} master {BRIDGE} up"]
    batch += [f"route add local {p} dev {BRIDGE}" for p in local_routes]
    ip(ns=ns, batch=batch)


def delete_namespace(ns: str) -> None:
    """Delete ``ns`` (its bridge and taps go with it); also unmount /run/netns once it is empty
    (``ip netns add`` bind-mounts it the first time)."""
    if namespace_exists(ns):
        ip("netns", "del", ns, check=False)
    with contextlib.suppress(OSError):
        if not os.listdir(NETNS_DIR):
            umount(NETNS_DIR, lazy_fallback=False)  # refused (busy) if a namespace appeared meanwhile


def add_address(ns: str, address: str, dev: str = BRIDGE) -> None:
    """Add ``address`` ("192.0.2.101/24") to ``dev`` in ``ns``; adding an existing one is fine."""
    proc = ip("addr", "add", address, "dev", dev, ns=ns, check=False)
    if proc.returncode != 0 and "File exists" not in proc.stderr and "already assigned" not in proc.stderr:
        raise LabError(f"ip -n {ns} addr add {address} dev {dev} failed: {proc.stderr.strip()}")


@contextlib.contextmanager
def in_netns(ns: str) -> Iterator[None]:
    """Run the body with the current thread in the lab namespace ``ns``; always switch back."""
    try:
        with _in_netns(ns):
            yield
    except FileNotFoundError:
        raise LabError(f"network namespace {ns} does not exist (is the lab up?)") from None


def socket_in_netns(ns: str, family: int = socket.AF_INET, type: int = socket.SOCK_RAW,
                    proto: int = 0) -> socket.socket:
    """A socket created inside ``ns``: it stays there while the caller carries on outside."""
    try:
        return _socket_in_netns(ns, family, type, proto)
    except FileNotFoundError:
        raise LabError(f"network namespace {ns} does not exist (is the lab up?)") from None


def run_in_netns(ns: str, fn: Callable[..., T], *args, **kwargs) -> T:
    """Call ``fn`` in a helper thread that lives in ``ns``; return its result or raise its error.

    The calling thread never changes namespace, so this is safe from any thread.
    """
    box: dict = {}

    def target() -> None:
        try:
            with in_netns(ns):
                box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    t = threading.Thread(target=target, name=f"netns-{ns}")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
