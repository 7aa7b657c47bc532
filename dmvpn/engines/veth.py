"""A veth pair between two throw-away network namespaces, for benchmarks and tests.

    with veth_pair("dmvpn-bench-") as link:
        LocalEngine(link.tx_if, netns=link.tx_ns).run(...)
        link.rx_stats()["packets"]

Both namespaces are created here and deleted on exit (also on errors; deleting a namespace removes
its veth end). IPv6 is disabled in both before the link exists and no IPv4 address is configured,
so the kernel itself sends nothing on the link: the receiving end's counters (`ip -s -j link`,
exact in every measurement here) count only what the sender sent. Needs root.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


@dataclass
class VethPair:
    tx_ns: str
    tx_if: str
    rx_ns: str
    rx_if: str
    tx_mac: str
    rx_mac: str

    def stats(self, ns: str, ifname: str) -> dict[str, dict[str, int]]:
        """{'rx': {...}, 'tx': {...}} counters of one end (stats64 of `ip -s -j link show`)."""
        out = _ip("-n", ns, "-s", "-j", "link", "show", "dev", ifname).stdout
        data = json.loads(out)[0]
        s = data.get("stats64") or data["stats"]
        return {"rx": s["rx"], "tx": s["tx"]}

    def rx_stats(self) -> dict[str, int]:
        """Receive counters of the receiving end (packets, bytes, dropped, ...)."""
        return self.stats(self.rx_ns, self.rx_if)["rx"]

    def tx_stats(self) -> dict[str, int]:
        """Transmit counters of the sending end."""
        return self.stats(self.tx_ns, self.tx_if)["tx"]


def _mac(ns: str, ifname: str) -> str:
    return json.loads(_ip("-n", ns, "-j", "link", "show", "dev", ifname).stdout)[0]["address"]


def _disable_ipv6(ns: str) -> None:
    for key in ("all", "default"):
        subprocess.run(
            ["ip", "netns", "exec", ns, "sysctl", "-q", "-w", f"net.ipv6.conf.{key}.disable_ipv6=1"],
            capture_output=True, text=True, check=True, timeout=30,
        )  # fmt: skip


@contextlib.contextmanager
def veth_pair(prefix: str = "dmvpn-bench-", mtu: int = 1500) -> Iterator[VethPair]:
    """Namespaces `<prefix><pid>-<tag>-tx/-rx` joined by veth tx0 <-> rx0, both up, deleted on exit."""
    if os.geteuid() != 0:
        raise PermissionError("creating network namespaces needs root")
    tag = f"{os.getpid()}-{secrets.token_hex(2)}"
    tx_ns, rx_ns = f"{prefix}{tag}-tx", f"{prefix}{tag}-rx"
    created: list[str] = []
    try:
        for ns in (tx_ns, rx_ns):
            _ip("netns", "add", ns)
            created.append(ns)
            _disable_ipv6(ns)
        _ip("-n", tx_ns, "link", "add", "tx0", "mtu", str(mtu), "type", "veth", "peer", "name", "rx0", "netns", rx_ns)
        _ip("-n", rx_ns, "link", "set", "rx0", "mtu", str(mtu), "up")
        _ip("-n", tx_ns, "link", "set", "tx0", "up")
        yield VethPair(tx_ns, "tx0", rx_ns, "rx0", _mac(tx_ns, "tx0"), _mac(rx_ns, "rx0"))
    finally:
        for ns in reversed(created):
            _ip("netns", "del", ns, check=False)
