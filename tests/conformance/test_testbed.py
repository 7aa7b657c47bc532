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
