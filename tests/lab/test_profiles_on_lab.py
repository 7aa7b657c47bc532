"""Every TRex profile, run by the local engine against the embedded lab's FRR hub for a bounded
time: what the engine says it sent is what the hub's tap counted (`ip -s link`)."""

from __future__ import annotations

import json
import socket
import time

import pytest

from dmvpn.engines.local import LocalEngine
from dmvpn.lab import Lab, Topology
from dmvpn.lab.netns import BRIDGE, ip
from dmvpn.lab.topology import TESTER_EXTRA_NETS, TESTER_POOL

from ..engines.conftest import CASE_IDS, PROFILE_CASES, PROFILES

DURATION = 0.4


@pytest.fixture(scope="module")
def hub_lab():
    """The hub alone (nothing else talks on its tap), with static neighbours for every tester
    address so that its answers cause no ARP exchange that the tap would count."""
    with Lab(Topology(spokes=0)) as lab:
        mac = json.loads(ip("-j", "link", "show", BRIDGE, ns=lab.ns).stdout)[0]["address"]
        hosts = [str(h) for net in (TESTER_POOL, *TESTER_EXTRA_NETS) for h in net]  # profiles use .128 too
        lab.exec("hub", ["ip", "-batch", "-"], input="".join(f"neigh replace {h} lladdr {mac} dev eth0 nud permanent\n" for h in hosts))
        # An open raw GRE socket stops the namespace's kernel (no GRE) from answering the hub's
        # replies with ICMP protocol-unreachable, which the tap would count too.
        gre = lab.socket(socket.AF_INET, socket.SOCK_RAW, 47)
        try:
            _quiet(lab)
            yield lab
        finally:
            gre.close()


def _tap_tx(lab: Lab) -> int:
    stats = json.loads(ip("-s", "-j", "link", "show", "tap-hub", ns=lab.ns).stdout)[0]["stats64"]
    return int(stats["tx"]["packets"])  # bridge -> hub


def _quiet(lab: Lab, for_s: float = 1.0, at_most_s: float = 10.0) -> None:
    """Wait until nothing has crossed the hub's tap for `for_s` (boot-time ARP and the like)."""
    end = time.monotonic() + at_most_s
    last, since = _tap_tx(lab), time.monotonic()
    while time.monotonic() < end and time.monotonic() - since < for_s:
        time.sleep(0.1)
        now = _tap_tx(lab)
        if now != last:
            last, since = now, time.monotonic()


@pytest.mark.parametrize(("cid", "profile", "tunables"), PROFILE_CASES, ids=CASE_IDS)
def test_profile_against_the_hub(hub_lab, cid, profile, tunables) -> None:
    hub_mac = hub_lab.node("hub").mac
    engine = LocalEngine(BRIDGE, netns=hub_lab.ns, dst_mac=hub_mac, max_seconds=3, max_packets=200_000)
    expected = engine.expected_packets(engine.compile(PROFILES / profile, tunables))
    before = _tap_tx(hub_lab)
    result = engine.run(PROFILES / profile, tunables, duration=DURATION if expected is None else None)
    deadline = time.monotonic() + 3
    while (counted := _tap_tx(hub_lab) - before) < result.sent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert result.sent > 0
    assert counted == result.sent, f"engine sent {result.sent}, the hub's tap counted {counted}"
    assert hub_lab.health("hub").ok
