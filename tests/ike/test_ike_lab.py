"""IKEv2 in the lab: charon in the guests (hub <-> FRR spoke), and charon on the tester side
(kernel-libipsec) with our user-space ESP using the keys it negotiated.

One lab for the module: hub + spoke1, ``ike=True`` (transport-mode CHILD_SAs between the guests)
and ``ike_tester`` (tunnel-mode CHILD_SAs with the tester address, which the tester initiates).
"""

from __future__ import annotations

import re
import socket
import struct
import time

import pytest

from dmvpn.ike import IkeConnection, IkeEspLink, TesterCharon
from dmvpn.lab import Lab, Topology, poll_until
from dmvpn.transport import Interlock
from dmvpn.wire import templates as T
from dmvpn.wire.fastparse import parse_ipv4_gre

IKE_TESTER = "192.0.2.250"
VICI = "--uri unix:///run/charon.vici"


@pytest.fixture(scope="module")
def ike_lab(ike_lab_available):
    with Lab(Topology(spokes=1, ike=True, ike_tester=(IKE_TESTER,))) as lab:
        yield lab


def _registered(lab: Lab, protocol: str, nbma: str, timeout: float = 45.0) -> None:
    def check():
        return any(e.protocol == protocol and e.nbma == nbma and e.type == "dynamic"
                   for e in lab.nhrp_cache("hub")) or None

    poll_until(check, timeout, 0.3, f"{protocol} -> {nbma} registered at the hub")


def _xfrm_keys(lab: Lab, node: str) -> dict[int, str]:
    """SPI -> AEAD key hex, from ``ip xfrm state`` in the guest."""
    out = lab.exec(node, ["ip", "xfrm", "state"]).check("ip xfrm state").stdout
    keys, spi = {}, None
    for line in out.splitlines():
        if m := re.search(r"proto esp spi 0x([0-9a-f]+)", line):
            spi = int(m[1], 16)
        elif (m := re.search(r"aead \S+ 0x([0-9a-f]+)", line)) and spi is not None:
            keys[spi] = m[1]
    return keys


def _count_frames(lab: Lab, tap: str, a: str, b: str, action, seconds: float) -> dict[int, int]:
    """IP protocol -> frames between ``a`` and ``b`` seen on ``tap`` while ``action()`` runs."""
    sniff = lab.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    counts: dict[int, int] = {}
    try:
        sniff.bind((tap, 0x0003))
        sniff.settimeout(0.1)
        action()
        deadline = time.monotonic() + seconds
        pair = {socket.inet_aton(a), socket.inet_aton(b)}
        while time.monotonic() < deadline:
            try:
                frame = sniff.recv(65535)
            except TimeoutError:
                continue
            if len(frame) < 34 or struct.unpack_from("!H", frame, 12)[0] != 0x0800:
                continue
            if {frame[26:30], frame[30:34]} == pair:
                counts[frame[23]] = counts.get(frame[23], 0) + 1
    finally:
        sniff.close()
    return counts


def test_guest_to_guest_sas_and_registration_over_esp(ike_lab: Lab) -> None:
    lab = ike_lab
    hub, spoke = lab.node("hub"), lab.node("spoke1")
    _registered(lab, spoke.tunnel, spoke.nbma)
    for node in ("hub", "spoke1"):
        sas = lab.exec(node, f"swanctl --list-sas {VICI}").check("swanctl --list-sas").stdout
        assert "ESTABLISHED" in sas and "INSTALLED, TRANSPORT, ESP:AES_GCM_16-128" in sas, sas
    before = {(s.src, s.dst): s.packets for s in lab.xfrm_states("hub")}
    assert before.get((spoke.nbma, hub.nbma), 0) >= 1, "the registration came in over ESP"
    # GRE between the guests is ESP on the wire, never GRE in the clear.
    ping = lambda: lab.exec("spoke1", ["ping", "-c", "3", "-i", "0.2", "-W", "2", hub.tunnel]).check("ping")
    counts = _count_frames(lab, spoke.tap, spoke.nbma, hub.nbma, ping, 1.0)
    assert counts.get(socket.IPPROTO_ESP, 0) >= 6 and counts.get(47, 0) == 0, counts
    after = {(s.src, s.dst): s.packets for s in lab.xfrm_states("hub")}
    assert after[(spoke.nbma, hub.nbma)] >= before[(spoke.nbma, hub.nbma)] + 3
    assert after[(hub.nbma, spoke.nbma)] >= before.get((hub.nbma, spoke.nbma), 0) + 3


def test_tester_charon_negotiates_and_our_esp_registers(ike_lab: Lab, tmp_path) -> None:
    lab = ike_lab
    hub = lab.node("hub")
    lab.add_tester_address(f"{IKE_TESTER}/32")
    conn = IkeConnection("hub", IKE_TESTER, hub.nbma, lab.topology.ike_psk, mode="tunnel")
    gre_guard = lab.socket(socket.AF_INET, socket.SOCK_RAW, 47)  # no ICMP unreachable for GRE
    link = None
    try:
        with TesterCharon(lab.ns, tmp_path / "charon", [conn]) as charon:
            charon.initiate("hub")
            assert "INSTALLED, TUNNEL-in-UDP, ESP:AES_GCM_16-128" in charon.list_sas()
            [child] = [c for c in charon.child_sas() if c.remote == hub.nbma]
            assert child.initiator and child.encap and child.algorithm == "aes-gcm-128"
            # The keys we read from charon's log are the ones the hub's kernel holds.
            hub_keys = _xfrm_keys(lab, "hub")
            assert hub_keys[child.spi_in] == child.key_in.hex()
            assert hub_keys[child.spi_out] == child.key_out.hex()
            link = IkeEspLink.from_child_sas(Interlock(["192.0.2.0/24"]), [child], netns=lab.ns)
            request = T.registration_request(
                outer_src=IKE_TESTER, outer_dst=hub.nbma, src_proto="10.255.0.250",
                dst_proto=hub.tunnel, gre_key=lab.topology.gre_key, reqid=4242, hopcnt=1)
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
            assert reply.nhrp.reqid == 4242 and reply.nhrp.checksum_ok
            assert [c.code for c in reply.nhrp.cies] == [0]
            _registered(lab, "10.255.0.250", IKE_TESTER, timeout=5)
            states = {s.spi: s for s in lab.xfrm_states("hub")}
            assert states[child.spi_out].packets >= 1 and states[child.spi_out].mode == "tunnel"
            assert states[child.spi_in].packets >= 1
        assert charon.proc is None
    finally:
        if link is not None:
            link.close()
        gre_guard.close()
