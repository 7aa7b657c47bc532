"""Rendering and key parsing, without booting anything."""

from __future__ import annotations

import os

import pytest

from dmvpn.ike import IkeConnection, child_sas, strongswan_conf, swanctl_conf
from dmvpn.lab import Topology
from dmvpn.lab.render import guest_config, ike_connections
from dmvpn.wire.esp import EspSA, _ipv4


def test_swanctl_conf_has_gre_selectors_and_psk() -> None:
    text = swanctl_conf([IkeConnection("hub", "192.0.2.11", "192.0.2.1", "s3cret", start_action="trap")])
    assert "local_ts = 192.0.2.11/32[gre]" in text and "remote_ts = 192.0.2.1/32[gre]" in text
    assert "mode = transport" in text and "esp_proposals = aes128gcm16" in text
    assert 'secret = "s3cret"' in text and "start_action = trap" in text


def test_strongswan_conf_kernel_choice() -> None:
    lib = strongswan_conf(log_path="/x/charon.log", vici_socket="/run/charon.vici", kernel="libipsec",
                          keys_in_log=True)
    load = next(line for line in lib.splitlines() if line.strip().startswith("load = kernel"))
    assert load.split()[2:4] == ["kernel-libipsec", "kernel-netlink"]
    assert "chd = 4" in lib and "allow_peer_ts = yes" in lib
    assert "kernel-libipsec" not in strongswan_conf(log_path="/l", vici_socket="/v").split("load =")[1].split("\n")[0]
    with pytest.raises(ValueError):
        strongswan_conf(log_path="/l", vici_socket="/v", kernel="pfkey")


def test_default_lab_is_unchanged_without_ike() -> None:
    topo = Topology()
    for node in topo.nodes():
        cfg = guest_config(topo, node, f"/r/{node.name}")
        assert "ike" not in cfg
        assert not any(p.endswith(("swanctl.conf", "strongswan.conf")) for p in cfg["files"])
        assert "esp4" not in cfg["modules"]


def test_ike_lab_renders_peerings() -> None:
    topo = Topology(spokes=2, ike=True, ike_tester=("192.0.2.250",))
    hub = topo.node("hub")
    conns = ike_connections(topo, hub)
    assert [(c.remote, c.mode, c.start_action) for c in conns] == [
        ("192.0.2.11", "transport", "trap"), ("192.0.2.12", "transport", "trap"),
        ("192.0.2.250", "tunnel", "none")]
    cfg = guest_config(topo, hub, "/r/hub")
    assert cfg["ike"]["env"]["STRONGSWAN_CONF"] == "/r/hub/strongswan.conf"
    assert {"esp4", "xfrm_user"} <= set(cfg["modules"])
    assert "remote_ts = 192.0.2.11/32[gre]" in cfg["files"]["/r/hub/swanctl.conf"]
    with pytest.raises(ValueError):
        Topology(ike=True, esp=True)


def _dump(name: str, key: bytes) -> list[str]:
    lines = [f"08:11:00 02[CHD] <hub|1> {name} => {len(key)} bytes @ 0x7f4278001960"]
    for off in range(0, len(key), 16):
        chunk = key[off:off + 16]
        hexes = " ".join(f"{b:02X}" for b in chunk).ljust(16 * 3 - 1)
        lines.append(f"08:11:00 02[CHD] <hub|1>  {off:3d}: {hexes}  {'.' * len(chunk)}")
    return lines


def _log(initiator: bool, key_i: bytes, key_r: bytes) -> str:
    lines = ["08:11:00 01[IKE] <hub|1> faking NAT situation to enforce UDP encapsulation"]
    if initiator:
        lines.append("08:11:00 01[IKE] <hub|1> establishing CHILD_SA hub-gre{1}")
    lines += [
        "08:11:00 01[NET] <hub|1> sending packet: from 192.0.2.250[4500] to 192.0.2.1[4500] (237 bytes)",
        "08:11:00 02[CHD] <hub|1>   using AES_GCM_16 for encryption",
        *_dump("encryption initiator key", key_i),
        *_dump("encryption responder key", key_r),
        "08:11:00 02[CHD] <hub|1> adding inbound ESP SA",
        "08:11:00 02[CHD] <hub|1>   SPI 0xcf6d1011, src 192.0.2.1 dst 192.0.2.250",
        "08:11:00 02[CHD] <hub|1> adding outbound ESP SA",
        "08:11:00 02[CHD] <hub|1>   SPI 0xc8aa7c9d, src 192.0.2.250 dst 192.0.2.1",
        "08:11:00 03[IKE] <other|2> unrelated line of another IKE_SA",
        "08:11:00 02[IKE] <hub|1> CHILD_SA hub-gre{1} established with SPIs cf6d1011_i c8aa7c9d_o "
        "and TS 192.0.2.250/32[gre] === 192.0.2.1/32[gre]",
    ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("initiator", [True, False], ids=["initiator", "responder"])
def test_child_sa_keys_from_log(initiator: bool) -> None:
    key_i, key_r = os.urandom(20), os.urandom(20)
    [child] = child_sas(_log(initiator, key_i, key_r))
    assert (child.spi_in, child.spi_out) == (0xCF6D1011, 0xC8AA7C9D)
    assert (child.local, child.remote, child.encap, child.ports) == ("192.0.2.250", "192.0.2.1", True, (4500, 4500))
    assert child.key_out == (key_i if initiator else key_r)
    assert child.key_in == (key_r if initiator else key_i)
    assert child.algorithm == "aes-gcm-128"
    out, inb = child.esp_sas("tunnel")
    # What the peer sends with our inbound key comes back out through our inbound SA.
    peer_out = EspSA(child.spi_in, "aes-gcm-128", child.key_in, mode="tunnel",
                     tunnel=("192.0.2.1", "192.0.2.250"), nat_t=(4500, 4500))
    inner = _ipv4("192.0.2.1", "192.0.2.250", 47, b"\x00\x00\x20\x01" + b"x" * 20)
    assert inb.unprotect(peer_out.protect(inner)).packet == inner
    assert out.nat_t == (4500, 4500) and out.tunnel == ("192.0.2.250", "192.0.2.1")
