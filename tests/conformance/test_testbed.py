"""Testbed files: a good one loads; a bad one is refused in one line naming the key, before any send."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dmvpn.dut.testbed import TestbedDut, TestbedError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "suites" / "testbeds" / "example-cisco-hub.yaml"


def _good() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def test_example_loads() -> None:
    dut = TestbedDut.from_file(EXAMPLE)
    assert dut.info.role == "hub" and dut.info.nbma == "192.0.2.1" and dut.info.gre_key == 42
    assert dut.info.password == b"DMVPN" and "authentication" in dut.info.capabilities
    assert "192.0.2.1/32" in dut.info.allowed_prefixes
    assert dut.allocate_identity() == ("192.0.2.129", "10.255.0.129")


@pytest.mark.parametrize(
    "edit,key",
    [
        (lambda d: d["dut"].update(nbma="192.0.2.300"), "dut.nbma"),
        (lambda d: d["dut"].pop("nbma"), "dut.nbma"),
        (lambda d: d["dut"].update(role="router"), "dut.role"),
        (lambda d: d["dut"].update(gre_key=-1), "dut.gre_key"),
        (lambda d: d["dut"].update(holding_time=0), "dut.holding_time"),
        (lambda d: d["dut"].update(authentication="muchtoolong"), "dut.authentication"),
        (lambda d: d["dut"].update(capabilities=["teleport"]), "dut.capabilities"),
        (lambda d: d["dut"].update(colour="blue"), "dut.colour"),
        (lambda d: d["tester"].update(nbma_pool=["not-a-prefix"]), "tester.nbma_pool"),
        (lambda d: d.pop("tester"), "tester"),
        (lambda d: d["management"].update(kind="telnet"), "management.kind"),
        (lambda d: d.update(ipsec={"tester_address": "192.0.2.250", "spi_out": 5, "spi_in": 300, "key_out": "00" * 20, "key_in": "00" * 20}), "ipsec.spi_out"),
        (lambda d: d.update(ipsec={"spi_out": 300, "spi_in": 300, "key_out": "00" * 20, "key_in": "00" * 20}), "ipsec.tester_address"),
        (lambda d: d.update(ipsec={"tester_address": "192.0.2.250", "spi_out": 300, "spi_in": 301, "key_out": "00" * 7, "key_in": "00" * 20}), "ipsec.key_out"),
        (lambda d: d.update(extras={}), "extras"),
    ],
)
def test_bad_file_names_the_key(tmp_path, edit, key) -> None:
    data = _good()
    edit(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(TestbedError) as info:
        TestbedDut.from_file(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: {key}:"), message


def test_not_yaml(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("dut: [unclosed\n")
    with pytest.raises(TestbedError, match="not valid YAML"):
        TestbedDut.from_file(path)


def test_pytest_refuses_a_bad_testbed_before_running_anything(tmp_path) -> None:
    data = _good()
    data["dut"]["nbma"] = "999.1.1.1"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/conformance", "--testbed", str(path), "-p", "no:cacheprovider"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 4  # pytest's usage error: nothing collected, nothing run, nothing sent
    errors = [line for line in proc.stderr.splitlines() if "dut.nbma" in line]
    assert len(errors) == 1 and "'999.1.1.1'" in errors[0], proc.stderr
    assert "passed" not in proc.stdout and "failed" not in proc.stdout


def test_ipsec_section_gives_an_esp_link() -> None:
    data = _good()
    data["tester"]["interface"] = None  # the example's eth1 is not on this machine
    data["ipsec"] = {"tester_address": "192.0.2.250", "spi_out": 0x1001, "spi_in": 0x2001,
                     "key_out": "0x" + "11" * 20, "key_in": "0x" + "22" * 20, "nat_t": True}
    dut = TestbedDut.from_dict(data, "t.yaml")
    assert {"esp", "nat-t"} <= dut.info.capabilities and dut.esp_tester() == "192.0.2.250"
    link = dut.esp_link()
    try:
        sa = link.outbound_sa("192.0.2.250")
        assert sa.spi == 0x1001 and sa.nat_t == (4500, 4500)
    finally:
        link.close()


# -- safety: public address space -------------------------------------------------------------------


@pytest.mark.parametrize(
    "edit,key",
    [
        (lambda d: d["tester"].update(nbma_pool=["8.8.8.0/24"]), "tester.nbma_pool"),
        (lambda d: d["dut"].update(nbma="8.8.8.8"), "dut.nbma"),
        (lambda d: d["tester"].update(nat_pool=["1.1.1.0/24"]), "tester.nat_pool"),
        (lambda d: d["tester"].update(allowed_prefixes=["0.0.0.0/0"]), "tester.allowed_prefixes"),
        (lambda d: d["tester"].update(nbma_pool=["192.0.0.0/16"]), "tester.nbma_pool"),  # wider than 192.0.2.0/24
        (lambda d: d.update(safety={"allow_public_addresses": True}), "safety.reason"),
        (lambda d: d.update(safety={"reason": "because"}), "safety.reason"),
        (lambda d: d.update(safety={"allow_public_addresses": "yes", "reason": "x"}), "safety.allow_public_addresses"),
    ],
)
def test_public_space_is_refused_unless_the_file_says_why(tmp_path, edit, key) -> None:
    data = _good()
    edit(data)
    with pytest.raises(TestbedError) as info:
        TestbedDut.from_dict(data, "t.yaml")
    assert str(info.value).startswith(f"t.yaml: {key}:") and "\n" not in str(info.value), info.value


def test_public_space_with_a_reason() -> None:
    data = _good()
    data["tester"]["nbma_pool"] = ["8.8.8.0/24"]
    data["safety"] = {"allow_public_addresses": True, "reason": "our own /24, announced nowhere, lab rack 3"}
    dut = TestbedDut.from_dict(data, "t.yaml")
    assert "8.8.8.0/24" in dut.info.allowed_prefixes and dut.testbed.public_reason.startswith("our own")


@pytest.mark.parametrize(
    "edit,key",
    [
        (lambda d: d.update(spoke={"nhs_nbma": "192.0.2.100"}), "spoke"),  # on a hub
        (lambda d: d["dut"].update(role="spoke"), "spoke"),  # a spoke without the section
        (lambda d: d["management"].update(port=70000), "management.port"),
        (lambda d: d["management"].update(vtysh=["sudo", "vtysh"]), "management.vtysh"),  # cisco-ios
        (lambda d: d["management"].update(known_hosts="/nonexistent"), "management.known_hosts"),
        (lambda d: d["management"].update(key_files=["/nonexistent"]), "management.key_files"),
        (lambda d: d["management"].update(verify_host_key="no"), "management.verify_host_key"),
        (lambda d: d["management"].update(password="secret"), "management.password"),  # passwords are not in files
        (lambda d: d["dut"].update(reply_window=0), "dut.reply_window"),
        (lambda d: d["tester"].update(interface="eth 1"), "tester.interface"),
        (lambda d: d["ipsec"].update(nat_t="yes"), "ipsec.nat_t"),
    ],
)
def test_more_bad_keys(edit, key) -> None:
    data = _good()
    data["ipsec"] = {"tester_address": "192.0.2.250", "spi_out": 0x1001, "spi_in": 0x2001, "key_out": "11" * 20, "key_in": "22" * 20}
    edit(data)
    with pytest.raises(TestbedError) as info:
        TestbedDut.from_dict(data, "t.yaml")
    assert str(info.value).startswith(f"t.yaml: {key}:"), info.value


def _spoke(**spoke) -> dict:
    data = _good()
    data["dut"].update(role="spoke", capabilities=["shortcut", "nat"])
    data["management"] = {"kind": "frr-vtysh", "host": "192.0.2.1", "username": "admin"}
    data["spoke"] = {"nhs_nbma": "192.0.2.200", "nhs_tunnel": "10.255.0.200", "lan": "10.103.0.0/24",
                     "peer_lans": "10.200.0.0/16", "register": ["clear ip nhrp nhs"], **spoke}
    return data


@pytest.mark.parametrize(
    "spoke,key",
    [
        ({"register": ["ping {target}"]}, "spoke.register"),  # unknown placeholder
        ({"send_data": [{"shell": "ping {dst}", "x": 1}]}, "spoke.send_data"),
        ({"lan": None, "send_data": "ping {dst}"}, "spoke.lan"),
        ({"peer_lans": "10.200.0.0/24"}, "spoke.peer_lans"),
        ({"nhs_nbma": "10.9.9.9"}, "spoke.nhs_nbma"),  # not a tester address
        ({"nhs_nbma": "9.9.9.9"}, "spoke.nhs_nbma"),  # public
        ({"colour": "blue"}, "spoke.colour"),
    ],
)
def test_bad_spoke_sections(spoke, key) -> None:
    with pytest.raises(TestbedError) as info:
        TestbedDut.from_dict(_spoke(**spoke), "t.yaml")
    assert str(info.value).startswith(f"t.yaml: {key}:"), info.value


def test_shell_commands_need_frr() -> None:
    data = _spoke(send_data=[{"shell": "ping {dst}"}])
    data["management"]["kind"] = "cisco-ios"
    with pytest.raises(TestbedError, match=r"^t.yaml: spoke.send_data: \{shell"):
        TestbedDut.from_dict(data, "t.yaml")


def test_a_spoke_file_gives_the_spoke_cases_what_they_read() -> None:
    dut = TestbedDut.from_dict(_spoke(send_data=[{"shell": "ping -c {count} -I {src} {dst}"}]), "t.yaml")
    info = dut.info
    assert info.role == "spoke" and {"trigger-registration", "send-data", "cache", "shortcut"} <= info.capabilities
    assert info.extra == {"nhs_nbma": "192.0.2.200", "nhs_proto": "10.255.0.200", "lan": "10.103.0.0/24",
                          "peer_lans": "10.200.0.0/16", "retry_window": 8.0}
    assert "192.0.2.200" not in info.tester_nbma and "10.255.0.200" not in info.tester_proto
    assert dut._values(dst="10.200.1.10", count=3)["src"] == "10.103.0.1"
