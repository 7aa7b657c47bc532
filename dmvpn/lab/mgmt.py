"""Management plane: structured answers from FRR 8.4 and iproute2 inside the guests.

FRR 8.4.4 answers ``show ip nhrp cache|nhs|shortcut json`` (``{"attr": {"entriesCount": N},
"table": [...]}``) and ``show dmvpn json`` (a list), so no table scraping is needed for NHRP.
``ip xfrm`` has no JSON output: :func:`parse_xfrm_states` reads ``ip -s xfrm state``.

The parsers are pure functions; :class:`ManagementMixin` gives the lab one method per query, and
the few controls benchmarks and cases need (clear the NHRP cache, wait for a guest to go idle).
FRR's cache JSON is parsed here only (:func:`parse_nhrp_cache`): callers get :class:`CacheEntry`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from .errors import LabError

T = TypeVar("T")


@dataclass(frozen=True)
class CacheEntry:
    """One ``show ip nhrp cache`` row."""

    interface: str
    type: str  #: local, dynamic, nhs, static, cached, incomplete, negative, ...
    protocol: str
    nbma: str
    claimed_nbma: str
    used: bool = False
    timeout: bool = False
    auth: bool = False
    identity: str = "-"
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class NhsEntry:
    """One ``show ip nhrp nhs`` row."""

    interface: str
    fqdn: str
    nbma: str
    protocol: str  #: "(unspec)" until FRR has resolved the NHS
    #: FRR 8.4 shows no NHS state; ``ManagementMixin.nhs`` sets this from the cache: an "nhs"
    #: entry for the NHS appears when its Registration Reply was accepted.
    registered: bool | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Shortcut:
    """One ``show ip nhrp shortcut`` row."""

    type: str
    prefix: str
    via: str
    identity: str
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class XfrmState:
    src: str
    dst: str
    proto: str
    spi: int
    reqid: int
    mode: str
    bytes: int
    packets: int
    algorithms: dict = field(default_factory=dict)  #: "aead"/"enc"/"auth" -> name
    stats: dict = field(default_factory=dict)  #: replay-window, replay, failed


def _table(text: str, what: str) -> list[dict]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise LabError(f"{what}: not JSON: {text[:300]!r}") from exc
    return _rows(data)


def json_documents(text: str) -> list:
    """The JSON documents one after the other in ``text`` (vtysh with several ``-c``)."""
    dec, docs, i = json.JSONDecoder(), [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return docs
        try:
            doc, i = dec.raw_decode(text, i)
        except ValueError as exc:
            raise LabError(f"not JSON at offset {i}: {text[i:i + 200]!r}") from exc
        docs.append(doc)


def _rows(doc) -> list[dict]:
    return doc.get("table", []) if isinstance(doc, dict) else doc


def parse_nhrp_cache(text: str) -> list[CacheEntry]:
    return _cache_entries(_table(text, "show ip nhrp cache json"))


def _cache_entries(rows: list[dict]) -> list[CacheEntry]:
    out = []
    for r in rows:
        out.append(CacheEntry(
            interface=r.get("interface", ""), type=r.get("type", ""), protocol=r.get("protocol", ""),
            nbma=r.get("nbma", ""), claimed_nbma=r.get("claimed_nbma", ""), used=bool(r.get("used")),
            timeout=bool(r.get("timeout")), auth=bool(r.get("auth")),
            identity=r.get("identity", "-"), raw=r))
    return out


def parse_nhs(text: str) -> list[NhsEntry]:
    return _nhs_entries(_table(text, "show ip nhrp nhs json"))


def _nhs_entries(rows: list[dict]) -> list[NhsEntry]:
    return [NhsEntry(interface=r.get("interface", ""), fqdn=r.get("fqdn", ""), nbma=r.get("nbma", ""),
                     protocol=r.get("protocol", ""), raw=r) for r in rows]


def parse_shortcuts(text: str) -> list[Shortcut]:
    # FRR 8.4 prints the text table's header line before the JSON once there are shortcuts
    text = text[text.find("{"):] if "{" in text else text
    return [Shortcut(type=r.get("type", ""), prefix=r.get("prefix", ""), via=r.get("via", ""),
                     identity=r.get("identity", ""), raw=r)
            for r in _table(text, "show ip nhrp shortcut json")]


_XFRM_HEAD = re.compile(r"^src (\S+) dst (\S+)$")
_XFRM_PROTO = re.compile(r"proto (\S+) spi (0x[0-9a-f]+)(?:\(\d+\))? reqid (\d+)(?:\(0x[0-9a-f]+\))? mode (\S+)")
_XFRM_ALGO = re.compile(r"^(aead|enc|auth|auth-trunc|comp) (\S+)")
_XFRM_CUR = re.compile(r"^(\d+)\(bytes\), (\d+)\(packets\)")
_XFRM_STATS = re.compile(r"replay-window (\d+) replay (\d+) failed (\d+)")


def parse_xfrm_states(text: str) -> list[XfrmState]:
    """Parse ``ip -s xfrm state`` (blocks starting with ``src A dst B``)."""
    states: list[XfrmState] = []
    cur: dict | None = None
    in_current = in_stats = False

    def flush() -> None:
        if cur and cur["proto"]:
            states.append(XfrmState(**cur))

    for raw_line in text.splitlines():
        line = raw_line.strip()
        m = _XFRM_HEAD.match(line) if not raw_line.startswith((" ", "\t")) else None
        if m:
            flush()
            cur = {"src": m[1], "dst": m[2], "proto": "", "spi": 0, "reqid": 0, "mode": "",
                   "bytes": 0, "packets": 0, "algorithms": {}, "stats": {}}
            in_current = in_stats = False
            continue
        if cur is None:
            continue
        if m := _XFRM_PROTO.search(line):
            cur.update(proto=m[1], spi=int(m[2], 16), reqid=int(m[3]), mode=m[4])
        elif m := _XFRM_ALGO.match(line):
            cur["algorithms"][m[1]] = m[2]
        elif line.startswith("lifetime current"):
            in_current = True
        elif in_current and (m := _XFRM_CUR.match(line)):
            cur.update(bytes=int(m[1]), packets=int(m[2]))
            in_current = False
        elif line.startswith("stats"):
            in_stats = True
        elif in_stats and (m := _XFRM_STATS.search(line)):
            cur["stats"] = {"replay-window": int(m[1]), "replay": int(m[2]), "failed": int(m[3])}
            in_stats = False
    flush()
    return states


def parse_link_stats(text: str) -> dict[str, dict]:
    """``ip -s -j link`` -> {ifname: {"rx": {...}, "tx": {...}, "operstate", "mtu", "address"}}."""
    out = {}
    for link in json.loads(text):
        s = link.get("stats64") or link.get("stats") or {}
        out[link["ifname"]] = {"rx": s.get("rx", {}), "tx": s.get("tx", {}),
                               "operstate": link.get("operstate"), "mtu": link.get("mtu"),
                               "address": link.get("address"), "flags": link.get("flags", [])}
    return out


def poll_until(fn: Callable[[], T], timeout: float, interval: float = 0.25, what: str = "condition") -> T:
    """Call ``fn`` until it returns something truthy; return that, or raise after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise LabError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class ManagementMixin:
    """Queries every lab offers; needs ``self.exec(node, command, timeout=...)``."""

    def vtysh(self, node: str, *commands: str, timeout: float = 15.0) -> str:
        """Run vtysh commands on ``node``; return stdout (raises on a non-zero exit)."""
        argv = ["vtysh"]
        for c in commands:
            argv += ["-c", c]
        return self.exec(node, argv, timeout=timeout).check(f"vtysh on {node}: {commands!r}").stdout

    def nhrp_cache(self, node: str, timeout: float = 15.0) -> list[CacheEntry]:
        """``show ip nhrp cache json`` (a hub holding 10 000 bindings needs a longer ``timeout``)."""
        return parse_nhrp_cache(self.vtysh(node, "show ip nhrp cache json", timeout=timeout))

    def clear_nhrp_cache(self, node: str, timeout: float = 60.0) -> None:
        """``vtysh -c 'clear ip nhrp cache'`` on ``node``; raises LabError when it fails."""
        self.exec(node, ["vtysh", "-c", "clear ip nhrp cache"], timeout=timeout).check(f"clear ip nhrp cache on {node}")

    def wait_nhrp_cache_cleared(self, node: str, timeout: float = 60.0, interval: float = 0.2) -> None:
        """Wait until ``node``'s cache holds no dynamic entry (FRR drops them a moment after a clear)."""
        poll_until(lambda: not [e for e in self.nhrp_cache(node, timeout=max(15.0, timeout)) if e.type == "dynamic"],
                   timeout, interval, f"{node}'s NHRP cache to hold no dynamic entries after `clear ip nhrp cache`")

    def cpu_busy(self, node: str, window: float = 0.5) -> float:
        """Fraction of ``node``'s CPU time not idle over ``window`` seconds (the guest's /proc/stat)."""
        out = self.exec(node, f"head -1 /proc/stat; sleep {window}; head -1 /proc/stat").stdout.splitlines()
        first, second = ([int(x) for x in line.split()[1:]] for line in out[:2])
        delta = [b - a for a, b in zip(first, second)]
        idle = delta[3] + delta[4]  # idle + iowait
        total = sum(delta)
        return (total - idle) / total if total > 0 else 0.0

    def wait_nhrp_idle(self, node: str, busy_below: float = 0.2, timeout: float = 15.0) -> float:
        """Wait (at most ``timeout`` s) until ``node``'s CPU is less than ``busy_below`` busy; seconds waited.

        After a registration storm FRR 8.4 stays busy for a while (each binding's 10 s
        authorization timer fires, zebra installs the routes): measure the settled daemon."""
        t = time.monotonic()
        while time.monotonic() - t < timeout:
            if self.cpu_busy(node) < busy_below:
                break
        return time.monotonic() - t

    def nhs(self, node: str) -> list[NhsEntry]:
        """The node's NHSes, each with ``registered`` derived from its NHRP cache."""
        nhs_doc, cache_doc = json_documents(
            self.vtysh(node, "show ip nhrp nhs json", "show ip nhrp cache json"))
        cache = _cache_entries(_rows(cache_doc))
        registered = {(e.protocol, e.nbma) for e in cache if e.type == "nhs"}
        return [replace(n, registered=(n.protocol, n.nbma) in registered)
                for n in _nhs_entries(_rows(nhs_doc))]

    def shortcuts(self, node: str) -> list[Shortcut]:
        return parse_shortcuts(self.vtysh(node, "show ip nhrp shortcut json"))

    def dmvpn(self, node: str) -> list[dict]:
        """``show dmvpn json``: one dict per peer (src/dst NBMA, srcnbma, type, state...)."""
        return json.loads(self.vtysh(node, "show dmvpn json"))

    def routes(self, node: str) -> dict[str, list[dict]]:
        """``show ip route json``: {prefix: [route, ...]} as FRR gives it."""
        return json.loads(self.vtysh(node, "show ip route json"))

    def kernel_routes(self, node: str) -> list[dict]:
        """``ip -j route`` in the guest (what the kernel forwards with)."""
        return json.loads(self.exec(node, ["ip", "-j", "route"]).check().stdout)

    def links(self, node: str) -> dict[str, dict]:
        """Interface counters from ``ip -s -j link``."""
        return parse_link_stats(self.exec(node, ["ip", "-s", "-j", "link"]).check().stdout)

    def xfrm_states(self, node: str) -> list[XfrmState]:
        return parse_xfrm_states(self.exec(node, ["ip", "-s", "xfrm", "state"]).check().stdout)
