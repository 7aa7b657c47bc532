"""ESP between the tester (user-space ESP) and the FRR hub (kernel ESP with manual SAs).

A Registration Request over ESP in transport mode, and again over NAT-T, gets its Registration
Reply from FRR, decrypted and checked.
"""

from __future__ import annotations

import pytest

from dmvpn.lab import Lab, Topology
from dmvpn.lab.render import sas_with_tester
from dmvpn.transport import Interlock
from dmvpn.transport.esp import EspLink
from dmvpn.wire import templates as T
from dmvpn.wire.esp import EspSA
from dmvpn.wire.fastparse import parse_ipv4_gre

ESP_TESTER, NAT_T_TESTER = "192.0.2.250", "198.51.100.250"


@pytest.fixture(scope="module")
def esp_lab():
    topo = Topology(spokes=0, esp_tester=(ESP_TESTER,), esp_tester_nat_t=(NAT_T_TESTER,))
    with Lab(topo) as lab:
        yield lab


def _link(lab: Lab) -> EspLink:
    testers = {ESP_TESTER, NAT_T_TESTER}
    outbound, inbound = {}, {}
    for sa in sas_with_tester(lab.topology):
        ours = EspSA(sa.spi, "aes-gcm-128", sa.key, nat_t=(4500, 4500) if sa.nat_t else None)
        if sa.src in testers:
            outbound[(sa.src, sa.dst)] = ours
        else:
            inbound[sa.spi] = ours
    return EspLink(Interlock(["192.0.2.0/24", "198.51.100.0/24"]), outbound, inbound, netns=lab.ns)


@pytest.mark.parametrize("tester", [ESP_TESTER, NAT_T_TESTER], ids=["transport", "nat-t"])
def test_registration_over_esp_is_answered(esp_lab, tester) -> None:
    link = _link(esp_lab)
    try:
        request = T.registration_request(
            outer_src=tester, outer_dst="192.0.2.1", src_proto="10.255.0.250" if tester == ESP_TESTER else "10.255.0.251",
            dst_proto="10.255.0.1", gre_key=42, reqid=77, hopcnt=1,
        )
        link.send(request.packet)
        reply = None
        for _ in range(20):
            raw = link.recv(0.5)
            if raw is None:
                continue
            parsed = parse_ipv4_gre(raw)
            if parsed.nhrp is not None and parsed.nhrp.op_type == 4:
                reply = parsed
                break
        assert reply is not None, f"no reply; rejected: {[r.reason for r in link.rejected]}"
        assert reply.nhrp.reqid == 77 and reply.nhrp.checksum_ok
        assert [c.code for c in reply.nhrp.cies] == [0]
        states = {s.spi: s for s in esp_lab.xfrm_states("hub")}
        assert any(s for s in states.values()), "the hub shows its SAs"
    finally:
        link.close()


def test_fake_spoke_registers_over_esp(esp_lab) -> None:
    """The fake spoke state machine runs unchanged over the ESP link (the link is just a Link)."""
    from dmvpn.peers import FakeSpoke, PeerLoop, Tunnel

    link = _link(esp_lab)
    try:
        spoke = FakeSpoke(ESP_TESTER, "10.255.0.252", "192.0.2.1", "10.255.0.1", tunnel=Tunnel(gre_key=42, holding_time=600))
        loop = PeerLoop(link, [spoke])
        loop.kick(spoke, spoke.register(loop.clock()))
        assert loop.run_until(lambda: spoke.registered, 5), f"rejected: {[r.reason for r in link.rejected]}"
        assert spoke.registration_reply.reqid == spoke.events[0].detail["reqid"]
        cache = {e.protocol: e.nbma for e in esp_lab.nhrp_cache("hub")}
        assert cache.get("10.255.0.252") == ESP_TESTER
    finally:
        link.close()
