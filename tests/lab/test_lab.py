"""The session lab (hub + 2 FRR spokes): registration, command channel, management plane,
a registration crafted by the tester, and Phase 3 redirect/shortcut."""

from __future__ import annotations

import os
import random
import select
import socket
import time

import pytest

from dmvpn.lab import CommandTimeout, LabError, poll_until

from .nhrp_bytes import REGISTRATION_REPLY, gre, nhrp_summary, registration_request, split_ip_gre

pytestmark = pytest.mark.lab


def test_frr_spokes_are_registered_at_the_hub(registered_lab):
    lab = registered_lab
    cache = {e.protocol: e for e in lab.nhrp_cache("hub")}
    assert cache["10.255.0.11"].type == "dynamic" and cache["10.255.0.11"].nbma == "192.0.2.11"
    assert cache["10.255.0.12"].type == "dynamic" and cache["10.255.0.12"].nbma == "192.0.2.12"
    assert cache["10.255.0.1"].type == "local"
    for spoke in ("spoke1", "spoke2"):
        nhs = lab.nhs(spoke)
        assert [(n.nbma, n.protocol, n.registered) for n in nhs] == [("192.0.2.1", "10.255.0.1", True)]
        assert any(e.type == "nhs" and e.nbma == "192.0.2.1" for e in lab.nhrp_cache(spoke))
    peers = lab.dmvpn("hub")
    assert {p["dst"] for p in peers} >= {"192.0.2.11", "192.0.2.12"}


def test_exec_returns_output_and_exit_codes(lab):
    res = lab.exec("spoke1", "echo out; echo err >&2; exit 3")
    assert (res.rc, res.stdout, res.stderr) == (3, "out\n", "err\n")
    assert not res.ok
    res = lab.exec("hub", ["ip", "-br", "addr", "show", "dev", "eth0"])
    assert res.ok and "192.0.2.1/24" in res.stdout
    assert lab.exec("spoke2", ["cat"], input="through stdin").stdout == "through stdin"
    assert lab.exec("hub", ["/nonexistent/binary"]).rc == 127
    assert lab.exec("hub", "hostname").stdout.strip() == "hub"


def test_exec_timeout_names_node_and_command(lab):
    t0 = time.monotonic()
    with pytest.raises(CommandTimeout) as err:
        lab.exec("spoke2", "sleep 30", timeout=0.5)
    assert time.monotonic() - t0 < 5
    assert "spoke2" in str(err.value) and "sleep 30" in str(err.value)
    with pytest.raises(LabError, match="no running guest 'nosuch'"):
        lab.exec("nosuch", "true")


def test_management_plane(registered_lab):
    lab = registered_lab
    routes = lab.routes("spoke1")
    assert routes["10.255.0.1/32"][0]["protocol"] == "nhrp"
    assert routes["10.101.0.0/24"][0]["protocol"] == "connected"
    links = lab.links("hub")
    assert links["gre1"]["rx"]["packets"] > 0 and links["eth0"]["address"] == "02:00:00:00:00:01"
    assert lab.shortcuts("hub") == []
    assert lab.xfrm_states("hub") == []
    h = lab.health("hub")
    assert h.ok, h
    assert set(h.daemons) == {"zebra", "nhrpd"} and h.vtysh_seconds < 5
    assert "Registration-Request" in lab.logs("hub")


def test_registration_request_from_the_tester_gets_a_reply(registered_lab):
    """A Registration Request crafted byte by byte (reference §A.15) from a pool address on the
    lab bridge, through a raw GRE socket opened in the lab namespace, is answered by FRR."""
    lab = registered_lab
    src_nbma, src_proto = "192.0.2.130", "10.255.0.130"
    request_id = random.randrange(1, 2**32)
    req = registration_request(src_nbma=src_nbma, src_proto=src_proto, nhs_nbma="192.0.2.1",
                               nhs_proto="10.255.0.1", request_id=request_id, holding_time=30)
    with lab.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_GRE) as sock:
        sock.bind((src_nbma, 0))
        sock.sendto(gre(req, key=42), ("192.0.2.1", 0))
        reply = None
        deadline = time.monotonic() + 5
        while reply is None and time.monotonic() < deadline:  # bounded: 5 s, one request sent
            if not select.select([sock], [], [], 0.2)[0]:
                continue
            pkt = split_ip_gre(sock.recv(4096))
            if pkt and pkt[0] == "192.0.2.1" and pkt[2] == 0x2001:
                s = nhrp_summary(pkt[4])
                if s["type"] == REGISTRATION_REPLY and s["request_id"] == request_id:
                    reply = (pkt, s)
    assert reply is not None, "no Registration Reply from the hub within 5 s"
    (src, dst, _proto, key, _), s = reply
    assert (src, dst, key) == ("192.0.2.1", src_nbma, 42)
    assert s["checksum_ok"] and s["cie_code"] == 0
    assert (s["src_nbma"], s["src_proto"], s["dst_proto"]) == (src_nbma, src_proto, "10.255.0.1")
    assert any(e.protocol == src_proto and e.nbma == src_nbma for e in lab.nhrp_cache("hub"))


def test_phase3_redirect_then_shortcut_then_direct(registered_lab):
    """Spoke1 LAN -> spoke2 LAN hairpins at the hub, which sends a Traffic Indication; spoke1
    resolves spoke2 and then sends straight to spoke2's NBMA address."""
    lab = registered_lab
    ping = ["ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "1", "-I", "10.101.0.1", "10.102.0.1"]
    assert lab.exec("spoke1", ping, timeout=15).ok

    def shortcut():
        cache = lab.nhrp_cache("spoke1")
        return [e for e in cache if e.protocol.startswith("10.102.") and e.nbma == "192.0.2.12"]

    poll_until(shortcut, 20, 0.3, "spoke1 to resolve 10.102.0.1 to 192.0.2.12")
    assert "Send Traffic-Indication(8)" in lab.logs("hub")
    assert "Recv Traffic-Indication(8)" in lab.logs("spoke1")
    assert "Resolution-Reply" in lab.logs("spoke1")

    before = lab.links("hub")["eth0"]["rx"]["packets"]
    res = lab.exec("spoke1", ping[:4] + ["10"] + ping[5:], timeout=15)
    assert res.ok, res.stdout
    after = lab.links("hub")["eth0"]["rx"]["packets"]
    print("hub eth0 rx delta", after - before)
    # 10 echo requests went direct: the hub saw (almost) none of them.
    assert after - before <= 2, f"hub eth0 received {after - before} packets during the direct ping"


def test_tester_helpers_switch_only_a_helper_thread(lab):
    own_ns = os.readlink("/proc/thread-self/ns/net")
    names = [n for _, n in lab.run_in_ns(socket.if_nameindex)]
    assert "br0" in names and "tap-hub" in names
    assert os.readlink("/proc/thread-self/ns/net") == own_ns
    with lab.in_ns():
        assert os.readlink("/proc/thread-self/ns/net") != own_ns
    assert os.readlink("/proc/thread-self/ns/net") == own_ns

    lab.add_tester_address("192.0.2.101/24")
    lab.add_tester_address("192.0.2.101/24")  # again: no error
    assert lab.exec("hub", ["ping", "-c", "1", "-W", "2", "192.0.2.101"]).ok
    # Pool and NAT-case addresses answer without being added (local routes on the bridge).
    assert lab.exec("hub", ["ping", "-c", "1", "-W", "2", "192.0.2.200"]).ok
    assert lab.exec("hub", ["ping", "-c", "1", "-W", "2", "198.51.100.7"]).ok
