"""What `dmvpn testbed check FILE` and `dmvpn run --testbed FILE --dry-run` (dmvpn.testbed_cli) check
and print: a testbed file and what a run would send and to whom, sending nothing (no packet, no
SSH session).

Checked: the file (one line naming the key for anything wrong, public address space refused
unless the file says why), the tester's namespace and interface, and the route from there to the
DUT's NBMA address. Printed: the DUT, where packets leave, which source addresses and destinations
the interlock lets through, the first packet of a run, what the management plane would be asked,
and which cases apply.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path

from .file import Testbed, TestbedError, load


def _ip(testbed: Testbed, *args: str) -> tuple[int, str]:
    argv = ["ip"] + (["-n", testbed.namespace] if testbed.namespace else []) + ["-j", *args]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except FileNotFoundError:
        return 127, "ip (iproute2) not found"
    return proc.returncode, proc.stdout if proc.returncode == 0 else proc.stderr.strip()


def resolve(testbed: Testbed) -> dict:
    """Where the tester's packets leave: {'interface', 'addresses', 'route'}; TestbedError (one line,
    naming the key) when the namespace or interface is not there, no route leads to the DUT, or the
    management password's environment variable is not set."""
    path = testbed.path
    m = testbed.management
    if m is not None and m.password_env and m.password_env not in os.environ:
        raise TestbedError(f"{path}: management.password_env: the environment has no {m.password_env}")
    if testbed.namespace and not Path("/run/netns", testbed.namespace).exists():
        raise TestbedError(f"{path}: tester.namespace: no network namespace {testbed.namespace!r} on this machine")
    where = f"namespace {testbed.namespace}" if testbed.namespace else "this namespace"
    out: dict = {"interface": testbed.interface, "addresses": [], "route": None}
    if testbed.interface:
        rc, text = _ip(testbed, "addr", "show", "dev", testbed.interface)
        if rc != 0:
            rc_all, all_links = _ip(testbed, "link", "show")
            names = [l["ifname"] for l in json.loads(all_links)] if rc_all == 0 else []
            raise TestbedError(f"{path}: tester.interface: no interface {testbed.interface!r} in {where} (there: {', '.join(names) or 'none'})")
        links = json.loads(text)
        out["addresses"] = [f"{a['local']}/{a['prefixlen']}" for link in links for a in link.get("addr_info", []) if a.get("family") == "inet"]
        if links and "UP" not in links[0].get("flags", []):
            raise TestbedError(f"{path}: tester.interface: {testbed.interface} in {where} is down")
    route_args = ["route", "get", testbed.info.nbma] + (["oif", testbed.interface] if testbed.interface else [])
    rc, text = _ip(testbed, *route_args)
    if rc != 0:
        key = "tester.interface" if testbed.interface else "dut.nbma"
        via = f" via {testbed.interface}" if testbed.interface else ""
        raise TestbedError(f"{path}: {key}: no route to the DUT's NBMA address {testbed.info.nbma}{via} in {where} ({text[:120]})")
    route = json.loads(text)[0]
    if "local" in route.get("cache", []) or route.get("dev") == "lo":
        raise TestbedError(f"{path}: dut.nbma: {testbed.info.nbma} is an address of the tester itself in {where}")
    if testbed.interface:
        # with oif the kernel answers even for an interface the DUT is not behind: ask the routing table
        rc, text = _ip(testbed, "route", "get", testbed.info.nbma)
        routed = json.loads(text)[0].get("dev") if rc == 0 else None
        if routed is not None and routed != testbed.interface:
            raise TestbedError(f"{path}: tester.interface: the route to the DUT's NBMA address {testbed.info.nbma} in {where} "
                               f"goes via {routed}, not {testbed.interface}")
    out["route"] = route
    return out


def _pool_words(addresses: tuple[str, ...]) -> str:
    if not addresses:
        return "none"
    return f"{len(addresses)} addresses, {addresses[0]} to {addresses[-1]}"


def _management_words(testbed: Testbed) -> list[str]:
    m = testbed.management
    if m is None:
        return ["management: none (the DUT's state is not read: cases that need it cannot test; health is the probe alone)"]
    user = f"{m.username}@" if m.username else ""
    auth = f"password from ${m.password_env}" if m.password_env else ("keys " + ", ".join(m.key_files) if m.key_files else "the user's keys/agent")
    hostkey = "host key NOT verified" if m.known_hosts is None else f"host key from {m.known_hosts or '~/.ssh/known_hosts'}"
    lines = [f"management: ssh {user}{m.host}:{m.port} ({m.kind}; {auth}; {hostkey}; {m.timeout:g} s per command)"]
    if m.kind == "frr-vtysh":
        from .ssh import quote

        v = list(m.vtysh)
        asks = [quote(v + ["-c", "show ip nhrp cache json"]), quote(v + ["-c", "clear ip nhrp cache"]), "pidof nhrpd; pidof zebra"]
        if testbed.info.role == "spoke":
            asks.insert(1, quote(v + ["-c", "show ip nhrp shortcut json"]))
    else:
        asks = ["show ip nhrp", "clear ip nhrp", "show processes cpu", "show version"]
        if testbed.ipsec:
            asks.append("show crypto ipsec sa detail")
    lines.append("  would run: " + " | ".join(asks))
    for key, commands in (("spoke.register", testbed.register), ("spoke.send_data", testbed.send_data)):
        if commands:
            shown = [c["shell"] if isinstance(c, dict) else c for c in commands]
            lines.append(f"  {key}: " + " ; ".join(shown))
    return lines


def plan(testbed: Testbed, where: dict | None = None, cases: Counter | None = None) -> list[str]:
    """What a run against this testbed would do, in lines (nothing is sent). `cases`: how many cases
    apply (key None) and how many do not, by reason (the CLI counts them with the run policy's rule)."""
    info = testbed.info
    lines = [f"testbed {testbed.path}: valid"]
    lines.append(f"DUT: {info.name} ({info.implementation}), role {info.role}, NBMA {info.nbma}, tunnel {info.proto}, "
                 f"GRE key {info.gre_key if info.gre_key is not None else 'none'}, holding time {info.holding_time} s, "
                 f"authentication {'yes' if info.password else 'no'}")
    lines.append(f"  capabilities: {', '.join(sorted(info.capabilities)) or 'none'}")
    if where is not None:
        route = where.get("route") or {}
        iface = where.get("interface")
        leave = f"interface {iface} ({', '.join(where.get('addresses') or []) or 'no address'}), bound with SO_BINDTODEVICE" if iface else "any interface (tester.interface not set)"
        lines.append(f"tester: {('namespace ' + testbed.namespace) if testbed.namespace else 'this namespace'}, {leave}")
        lines.append(f"  route to {info.nbma}: dev {route.get('dev', '?')}" + (f" via {route['gateway']}" if route.get("gateway") else "")
                     + (f" src {route['prefsrc']}" if route.get("prefsrc") else ""))
    lines.append(f"sends: GRE (IP protocol 47) to the DUT at {info.nbma}" + (" and ESP" if testbed.ipsec else ""))
    lines.append(f"  the interlock refuses any destination outside: {', '.join(info.allowed_prefixes)}")
    lines.append(f"  from (spoofed sources, one per emulated {'spoke' if info.role == 'hub' else 'peer'}): {_pool_words(info.tester_nbma)}")
    if info.nat_nbma:
        lines.append(f"  NAT cases also from: {_pool_words(info.nat_nbma)}")
    lines.append(f"  tunnel addresses claimed: {_pool_words(info.tester_proto)}")
    if info.role == "hub":
        nbma, proto = info.tester_nbma[0], info.tester_proto[0]
        lines.append(f"  first packet: Registration Request {nbma} -> {info.nbma} (tunnel {proto} -> {info.proto}), the "
                     "health probe; one after every case")
    else:
        e = info.extra
        lines.append(f"  the tester plays the DUT's NHS at {e['nhs_nbma']} (tunnel {e['nhs_proto']}); peers' LANs from "
                     f"{e['peer_lans']}; the DUT's LAN {e.get('lan') or 'not declared'}")
        lines.append("  first packet: the DUT's own Registration Request (after spoke.register), answered from the NHS address")
    if testbed.ipsec:
        c = testbed.ipsec
        lines.append(f"  ESP: from {c['tester_address']} to {info.nbma}, SPI out {c['spi_out']:#x} / in {c['spi_in']:#x}"
                     + (", in UDP 4500" if c["nat_t"] else ""))
    if testbed.public_reason:
        lines.append(f"  PUBLIC addresses allowed by the file: {testbed.public_reason}")
    lines.extend(_management_words(testbed))
    if cases is not None:
        reasons = Counter(cases)
        applies = reasons.pop(None, 0)
        lines.append(f"cases: {applies} of {applies + sum(reasons.values())} apply")
        for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {count} not applicable: {reason}")
    lines.append("dry run: nothing was sent")
    return lines
