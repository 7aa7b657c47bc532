"""Topology and rendered configuration: pure data, no guests."""

from __future__ import annotations

import json

import pytest

from dmvpn.lab import NodeOptions, Topology, esp_sas
from dmvpn.lab.render import guest_config, nhrpd_conf
from dmvpn.lab.topology import topology_from_dict, topology_to_dict


def test_default_lab_is_hub_and_two_spokes():
    nodes = Topology().nodes()
    assert [(n.name, n.role, n.nbma, n.tunnel) for n in nodes] == [
        ("hub", "hub", "192.0.2.1", "10.255.0.1"),
        ("spoke1", "spoke", "192.0.2.11", "10.255.0.11"),
        ("spoke2", "spoke", "192.0.2.12", "10.255.0.12"),
    ]
    spoke1 = Topology().node("spoke1")
    assert spoke1.lan == "10.101.0.0/24" and spoke1.lan_address == "10.101.0.1"
    assert spoke1.nhs == (("10.255.0.1", "192.0.2.1"),)
    assert len({n.mac for n in nodes}) == 3


def test_several_hubs_are_numbered_and_every_spoke_registers_with_each():
    topo = Topology(hubs=2, spokes=1)
    assert [n.name for n in topo.nodes()] == ["hub1", "hub2", "spoke1"]
    assert topo.node("hub2").nbma == "192.0.2.2"
    assert topo.node("spoke1").nhs == (("10.255.0.1", "192.0.2.1"), ("10.255.0.2", "192.0.2.2"))
    conf = nhrpd_conf(topo, topo.node("hub1"), "/x.log")
    assert " ip nhrp map 10.255.0.2 192.0.2.2" in conf


@pytest.mark.parametrize("kw", [{"hubs": 0}, {"spokes": -1}, {"spokes": 200}, {"holdtime": 0},
                                {"gre_key": 2**32}, {"options": {"nosuch": NodeOptions()}}])
def test_invalid_topologies_are_refused(kw):
    with pytest.raises(ValueError):
        Topology(**kw)


def test_hub_config_has_redirect_and_a_host_tunnel_address():
    topo = Topology()
    hub = topo.node("hub")
    conf = nhrpd_conf(topo, hub, "/run/x/hub/nhrpd.log")
    for line in ("nhrp nflog-group 1", " ip nhrp redirect", " ip nhrp network-id 1",
                 " ip nhrp holdtime 600", " tunnel source eth0", "log file /run/x/hub/nhrpd.log debugging"):
        assert line in conf.splitlines()
    assert "ip nhrp nhs" not in conf and "ip nhrp shortcut" not in conf
    cfg = guest_config(topo, hub, "/run/x/hub")
    assert "addr add 10.255.0.1/32 dev gre1" in cfg["ip_batch"]
    assert "tunnel add gre1 mode gre key 42 ttl 64 dev eth0" in cfg["ip_batch"]
    assert "route add 10.102.0.0/24 via 10.255.0.12 dev gre1 onlink" in cfg["ip_batch"]
    assert any("NFLOG" in argv for argv in cfg["commands"])
    json.dumps(cfg)  # the guest reads it as JSON


def test_spoke_config_registers_no_unique_with_shortcut():
    topo = Topology()
    conf = nhrpd_conf(topo, topo.node("spoke1"), "/l")
    assert " ip nhrp nhs 10.255.0.1 nbma 192.0.2.1" in conf.splitlines()
    assert " ip nhrp registration no-unique" in conf.splitlines()
    assert " ip nhrp shortcut" in conf.splitlines()
    assert "redirect" not in conf
    cfg = guest_config(topo, topo.node("spoke1"), "/d")
    assert "route add 10.102.0.0/24 via 10.255.0.1 dev gre1 onlink" in cfg["ip_batch"]
    assert cfg["commands"] == []


def test_node_options_unique_tester_nhs_and_extra_lines():
    topo = (Topology(unique=False, gre_key=None)
            .with_options("spoke1", unique=True, frr_lines=("interface gre1", " ip nhrp mtu 1400"))
            .with_options("spoke2", nhs_is_tester=True))
    s1, s2 = topo.node("spoke1"), topo.node("spoke2")
    c1 = nhrpd_conf(topo, s1, "/l")
    assert "no-unique" not in c1 and c1.rstrip().endswith("interface gre1\n ip nhrp mtu 1400")
    assert s2.nhs == (("10.255.0.100", "192.0.2.100"),)
    assert "route add 10.255.0.0/24 via 10.255.0.100 dev gre1 onlink" in guest_config(topo, s2, "/d")["ip_batch"]
    assert "tunnel add gre1 mode gre ttl 64 dev eth0" in guest_config(topo, s1, "/d")["ip_batch"]


def test_topology_survives_the_state_record():
    topo = Topology(spokes=3, esp=True).with_options("spoke2", frr_lines=("! x",), unique=True)
    assert topology_from_dict(json.loads(json.dumps(topology_to_dict(topo)))) == topo


def test_esp_sas_cover_every_ordered_pair_with_distinct_spis():
    topo = Topology(spokes=2, esp=True)
    sas = esp_sas(topo)
    assert len(sas) == 6 and len({sa.spi for sa in sas}) == 6
    assert all(len(bytes.fromhex(sa.key_hex)) == 20 for sa in sas)
    hub = guest_config(topo, topo.node("hub"), "/d")
    assert sum(line.startswith("xfrm state add") for line in hub["ip_batch"]) == 4
    assert sum(line.startswith("xfrm policy add") for line in hub["ip_batch"]) == 2
    assert "proto gre" in sas[0].state_cmd() and "mode transport" in sas[0].policy_cmd()


def test_cli_parses_exec_command_after_double_dash():
    import argparse

    from dmvpn.lab.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["lab", "exec", "--timeout", "5", "hub", "--", "vtysh", "-c", "show ip nhrp cache"])
    assert (args.node, args.timeout, args.command[-3:]) == ("hub", 5.0, ["vtysh", "-c", "show ip nhrp cache"])
    args = parser.parse_args(["lab", "up", "--spokes", "3", "--hubs", "2", "--esp"])
    assert (args.spokes, args.hubs, args.esp, args.func.__name__) == (3, 2, True, "cmd_up")
