"""Other shapes: two hubs, and a spoke whose NHS is the tester."""

from __future__ import annotations

import select
import socket
import time

import pytest

from dmvpn.lab import Lab, Topology

from .conftest import wait_registered
from .nhrp_bytes import REGISTRATION_REQUEST, nhrp_summary, split_ip_gre

pytestmark = pytest.mark.lab


def test_two_hubs_and_a_spoke_registering_with_the_tester(lab_available):
    topo = Topology(hubs=2, spokes=2).with_options("spoke2", nhs_is_tester=True)
    with Lab(topo) as lab:
        # The tester's raw GRE socket: open before spoke2's retries (1, 2, 4 s ...) run out.
        with lab.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_GRE) as sock:
            sock.bind(("192.0.2.100", 0))
            got = None
            deadline = time.monotonic() + 10
            while got is None and time.monotonic() < deadline:  # bounded: 10 s, receive only
                if not select.select([sock], [], [], 0.2)[0]:
                    continue
                pkt = split_ip_gre(sock.recv(4096))
                if pkt and pkt[0] == "192.0.2.12" and pkt[2] == 0x2001:
                    s = nhrp_summary(pkt[4])
                    if s["type"] == REGISTRATION_REQUEST:
                        got = (pkt, s)
        assert got, "spoke2 sent no Registration Request to the tester"
        (_src, _dst, _p, key, _), s = got
        assert key == 42 and s["checksum_ok"]
        assert (s["src_nbma"], s["src_proto"], s["dst_proto"]) == ("192.0.2.12", "10.255.0.12", "10.255.0.100")

        for hub in ("hub1", "hub2"):
            cache = wait_registered(lab, hub, {"10.255.0.11": "192.0.2.11"})
            assert not any(e.protocol == "10.255.0.12" for e in cache)
        assert [(n.nbma, n.registered) for n in lab.nhs("spoke2")] == [("192.0.2.100", False)]
        assert [(n.nbma, n.registered) for n in lab.nhs("spoke1")] == [("192.0.2.1", True), ("192.0.2.2", True)]
        # The hubs reach each other through their static maps.
        assert lab.exec("hub1", ["ping", "-c", "1", "-W", "2", "10.255.0.2"]).ok
        assert any(e.type == "static" and e.nbma == "192.0.2.2" for e in lab.nhrp_cache("hub1"))
