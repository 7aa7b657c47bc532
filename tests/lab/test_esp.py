"""Kernel ESP between guests: manual transport-mode SAs with proto gre selectors carry GRE."""

from __future__ import annotations

import socket
import time

import pytest

from dmvpn.lab import Lab, Topology

from .conftest import wait_registered

pytestmark = pytest.mark.lab

ETH_P_ALL = 0x0003  # a bridge port's frames reach only ETH_P_ALL sockets (the bridge takes them first)


def test_esp_carries_gre_between_spoke_and_hub(lab_available):
    with Lab(Topology(hubs=1, spokes=1, esp=True)) as lab:
        wait_registered(lab, "hub", {"10.255.0.11": "192.0.2.11"})  # NHRP itself went over ESP
        before = {(s.src, s.dst): s for s in lab.xfrm_states("hub")}
        assert set(before) == {("192.0.2.11", "192.0.2.1"), ("192.0.2.1", "192.0.2.11")}
        assert all(s.mode == "transport" and s.algorithms.get("aead") == "rfc4106(gcm(aes))"
                   for s in before.values())

        # Watch spoke1's tap from the tester side (a packet socket opened in the lab namespace).
        with lab.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as sniff:
            sniff.bind(("tap-spoke1", ETH_P_ALL))
            sniff.setblocking(False)
            assert lab.exec("spoke1", ["ping", "-n", "-q", "-c", "5", "-i", "0.2", "10.255.0.1"]).ok
            time.sleep(0.2)
            protos = []
            for _ in range(1000):  # bounded drain of what the socket queued
                try:
                    frame = sniff.recv(2048)
                except BlockingIOError:
                    break
                ip = frame[14:]
                if frame[12:14] == b"\x08\x00" and socket.inet_ntoa(ip[12:16]) == "192.0.2.11" and socket.inet_ntoa(ip[16:20]) == "192.0.2.1":
                    protos.append(ip[9])

        assert protos.count(50) >= 5, f"IP protocols seen spoke1 -> hub: {protos}"
        assert 47 not in protos, "plain GRE between spoke and hub although SAs cover it"
        after = {(s.src, s.dst): s for s in lab.xfrm_states("hub")}
        for pair in before:
            assert after[pair].packets >= before[pair].packets + 5, (pair, before[pair], after[pair])
        assert after[("192.0.2.11", "192.0.2.1")].stats.get("failed", 0) == 0

