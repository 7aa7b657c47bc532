"""FRR 10.3 as the second embedded implementation: a lab of Debian 13's FRR (its root built once
by dmvpn.lab.roots, about 40 s the first time), `show version`, a spoke registering with the hub,
and `ip nhrp authentication` as FRR 10.3 enforces it.

The root build is not done here when it is missing (a test run must not download 250 MB
unasked): the lab tests skip, naming `dmvpn lab root ensure frr-10.3`, unless
DMVPN_BUILD_ROOTS=1 lets them build it (CI: the build from nothing took 38 s here).
"""

from __future__ import annotations

import os
import time

import pytest

from dmvpn.lab import Lab, Topology, poll_until
from dmvpn.lab import implementations
from dmvpn.lab.render import guest_config, nhrpd_conf
from dmvpn.lab.roots import check_root
from dmvpn.lab.topology import TESTER_NBMA
from dmvpn.transport import GreSocket, Interlock
from dmvpn.wire import constants as C
from dmvpn.wire import templates as T
from dmvpn.wire.fastparse import ParseError, parse_ipv4_gre

from .conftest import wait_registered

PASSWORD = "DMVPN"
FRR10 = implementations.get("frr-10.3")


# -- without guests ------------------------------------------------------------------------------

def test_implementations_declare_what_they_are():
    old, new = implementations.get("frr-8.4"), FRR10
    assert implementations.DEFAULT == "frr-8.4" and Topology().implementation == "frr-8.4"
    assert not old.has("authentication") and new.has("authentication")
    assert new.has("resolution-retransmission") and old.has("ipv6") and new.has("ipv6")
    assert old.daemons == ("zebra", "nhrpd") and new.daemons == ("mgmtd", "zebra", "nhrpd")
    assert str(old.root()) == "/" and new.own_root and str(new.root()).endswith("/frr-10.3")
    with pytest.raises(ValueError, match="unknown implementation 'frr-9'.*frr-10.3"):
        Topology(implementation="frr-9")
    with pytest.raises(ValueError, match="frr-8.4 has no ip nhrp authentication"):
        Topology(nhrp_password=PASSWORD)
    with pytest.raises(ValueError, match="1-8 printable bytes"):
        Topology(implementation="frr-10.3", nhrp_password="longer-than-8")


def test_frr10_config_has_authentication_and_mgmtd():
    topo = Topology(hubs=1, spokes=1, implementation="frr-10.3", nhrp_password=PASSWORD)
    for name in ("hub", "spoke1"):
        node = topo.node(name)
        assert f" ip nhrp authentication {PASSWORD}\n" in nhrpd_conf(topo, node, "/x/nhrpd.log")
        cfg = guest_config(topo, node, "/x")
        assert [argv[0].rsplit("/", 1)[1] for argv in cfg["daemons"]] == ["mgmtd", "zebra", "nhrpd"]
        assert cfg["daemon_output"] == "/x/daemons.out" and cfg["host_modules"] == "/usr/lib/uml/modules"
    # no password asked: no authentication line; FRR 8.4's guest.json has none of the new keys
    assert "authentication" not in nhrpd_conf(Topology(implementation="frr-10.3"), topo.node("hub"), "/x/l")
    cfg84 = guest_config(Topology(spokes=1), Topology(spokes=1).node("hub"), "/x")
    assert not {"daemon_output", "host_modules", "host_mount"} & set(cfg84)
    assert [argv[0] for argv in cfg84["daemons"]] == ["/usr/lib/frr/zebra", "/usr/lib/frr/nhrpd"]


def test_a_broken_root_is_detected(tmp_path, monkeypatch):
    monkeypatch.setenv("DMVPN_ROOTS_DIR", str(tmp_path))
    assert "does not exist" in check_root(FRR10)
    (tmp_path / "frr-10.3" / "usr").mkdir(parents=True)  # what a killed build leaves
    assert "no build stamp" in check_root(FRR10)


# -- a booted FRR 10.3 lab -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def frr10_lab(lab_available):
    problem = check_root(FRR10)
    if problem and not os.environ.get("DMVPN_BUILD_ROOTS"):
        pytest.skip(f"frr-10.3 root not built ({problem}): `dmvpn lab root ensure frr-10.3` "
                    "(or DMVPN_BUILD_ROOTS=1 to build it here, about 40 s)")
    topo = Topology(hubs=1, spokes=1, implementation="frr-10.3", nhrp_password=PASSWORD)
    with Lab(topo) as lab:
        yield lab


def _register(lab: Lab, reqid: int, src_proto: str, password: str | bytes | None, window: float = 2.0):
    """One Registration Request from the tester's address; the NHRP answers that came back to it."""
    hub = lab.node("hub")
    answers = []
    with GreSocket(Interlock(("192.0.2.0/24",)), netns=lab.ns) as link:
        link.send(T.registration_request(outer_src=TESTER_NBMA, outer_dst=hub.nbma, src_proto=src_proto,
                                         dst_proto=hub.tunnel, gre_key=lab.topology.gre_key, reqid=reqid,
                                         hopcnt=1, holding_time=600, password=password).packet)
        deadline = time.monotonic() + window
        while (left := deadline - time.monotonic()) > 0:
            raw = link.recv(left)
            if raw is None:
                break
            try:
                view = parse_ipv4_gre(raw).nhrp
            except ParseError:
                continue
            if view is not None and view.op_type in (C.PacketType.REGISTRATION_REPLY, C.PacketType.ERROR_INDICATION):
                answers.append(view)
    return answers


def _bound(lab: Lab, proto: str) -> bool:
    return any(e.protocol == proto and e.type == "dynamic" for e in lab.nhrp_cache("hub"))


@pytest.mark.lab
def test_frr10_lab_boots_and_says_10_3(frr10_lab):
    version = frr10_lab.vtysh("hub", "show version")
    assert version.startswith("FRRouting 10.3"), version
    assert frr10_lab.vtysh("spoke1", "show version").startswith("FRRouting 10.3")
    assert f"ip nhrp authentication {PASSWORD}" in frr10_lab.vtysh("hub", "show running-config")
    health = frr10_lab.health("hub")
    assert health.ok, health.error


@pytest.mark.lab
def test_frr10_spoke_registers_with_the_hub(frr10_lab):
    spoke = frr10_lab.node("spoke1")
    wait_registered(frr10_lab, "hub", {spoke.tunnel: spoke.nbma})
    nhs = frr10_lab.nhs("spoke1")
    assert [(n.nbma, n.protocol, n.registered) for n in nhs] == [("192.0.2.1", "10.255.0.1", True)]


@pytest.mark.lab
def test_frr10_authentication(frr10_lab):
    """FRR 10.3 with `ip nhrp authentication DMVPN`: a registration without the authentication
    extension or with a wrong password gets an Error Indication code 11 (Authentication Failure)
    and no binding; the right password gets a reply (code 0) carrying the password, and a binding."""
    results = {}
    for reqid, (what, proto, password) in enumerate(
            [("missing", "10.253.1.1", None), ("wrong", "10.253.1.2", "WRONGPW"),
             ("right", "10.253.1.3", PASSWORD)], start=0x5A000001):
        results[what] = (_register(frr10_lab, reqid, proto, password), proto, reqid)
    for what in ("missing", "wrong"):
        answers, proto, reqid = results[what]
        assert [(a.op_type, a.code) for a in answers] == [(C.PacketType.ERROR_INDICATION, 11)], (what, answers)
        assert not any(a.op_type == C.PacketType.REGISTRATION_REPLY for a in answers)
        assert not _bound(frr10_lab, proto), what
    answers, proto, reqid = results["right"]
    replies = [a for a in answers if a.op_type == C.PacketType.REGISTRATION_REPLY and a.reqid == reqid]
    assert len(replies) == 1 and [c.code for c in replies[0].cies] == [0], answers
    auth = replies[0].extension(C.ExtensionType.AUTHENTICATION)
    assert auth is not None and auth.value == b"\x00\x00\x00\x01" + PASSWORD.encode()
    poll_until(lambda: _bound(frr10_lab, proto), 5, 0.2, f"{proto} bound at the hub")


@pytest.mark.lab
def test_frr10_lab_dut_takes_capabilities_from_the_implementation(frr10_lab):
    from dmvpn.dut.lab import LabDut, LabRef

    dut = LabDut(LabRef(frr10_lab), owns_lab=False)
    assert dut.info.implementation == "frr-10.3" and dut.info.password == PASSWORD.encode()
    assert {"authentication", "redirect", "nat", "shortcut"} <= dut.info.capabilities
    assert "ipv6" not in dut.info.capabilities  # the lab's guests run without IPv6
    assert dut.wait_answering(timeout=10) < 10  # the boot check sends the password
    # the capability came from data: the configured password is still there (no probe wiped it)
    assert f"ip nhrp authentication {PASSWORD}" in frr10_lab.vtysh("hub", "show running-config")
