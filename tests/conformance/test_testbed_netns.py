"""tester.interface and the dry run, in two network namespaces this test creates (nothing is sent
outside them): the tester in one, a "DUT" address in the other, joined by two veth pairs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dmvpn.dut.testbed import TestbedDut, TestbedError, load
from dmvpn.dut.testbed.check import plan, resolve
from dmvpn.transport import GreSocket, Interlock
from dmvpn.wire import templates as T

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2")


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


@pytest.fixture
def namespaces():
    tester, dut = f"dmvpn-tb-t{os.getpid()}", f"dmvpn-tb-d{os.getpid()}"
    for ns in (tester, dut):
        sh("ip", "netns", "add", ns)
    try:
        for ns in (tester, dut):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for a, b, prefix in (("tb-va", "tb-vb", "192.0.2"), ("tb-wa", "tb-wb", "198.51.100")):
            sh("ip", "link", "add", a, "netns", tester, "type", "veth", "peer", "name", b, "netns", dut)
            sh("ip", "-n", tester, "addr", "add", f"{prefix}.2/24", "dev", a)
            sh("ip", "-n", dut, "addr", "add", f"{prefix}.1/24", "dev", b)
            sh("ip", "-n", tester, "link", "set", a, "up")
            sh("ip", "-n", dut, "link", "set", b, "up")
        yield tester, dut
    finally:
        for ns in (tester, dut):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _file(tmp_path, tester: str, interface: str | None, nbma: str = "192.0.2.1") -> Path:
    data = {
        "dut": {"name": "veth DUT", "implementation": "none", "role": "hub", "nbma": nbma, "tunnel": "10.255.0.1", "gre_key": 42},
        "tester": {"namespace": tester, "interface": interface, "nbma_pool": ["192.0.2.128/25"], "tunnel_pool": ["10.255.0.128/25"]},
    }
    path = tmp_path / "veth.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _received(sock: GreSocket, window: float = 1.0) -> list[bytes]:
    return [p for p in sock.drain(window) if p[9] == 47]


def test_packets_leave_on_the_named_interface(tmp_path, namespaces) -> None:
    tester, dut_ns = namespaces
    testbed = load(_file(tmp_path, tester, "tb-va"))
    where = resolve(testbed)
    assert where["route"]["dev"] == "tb-va" and where["addresses"] == ["192.0.2.2/24"]
    dut = TestbedDut(testbed)
    packet = T.registration_request(outer_src="192.0.2.129", outer_dst="192.0.2.1", src_proto="10.255.0.129",
                                    dst_proto="10.255.0.1", gre_key=42, reqid=7).packet
    with GreSocket(Interlock(["192.0.2.0/24"]), netns=dut_ns) as far, dut.open_link() as link:
        assert link.device == "tb-va"
        link.send(packet)
        got = _received(far)
        assert [p[12:16] for p in got] == [bytes([192, 0, 2, 129])]
        # bound to tb-va, the tester does not hear what arrives on its other interface
        with GreSocket(Interlock(["198.51.100.0/24"]), netns=dut_ns) as other:
            other.send(T.registration_request(outer_src="198.51.100.1", outer_dst="198.51.100.2", src_proto="10.255.0.9",
                                              dst_proto="10.255.0.1", gre_key=42, reqid=8).packet)
        assert _received(link, 0.5) == []


def test_a_wrong_interface_is_refused_before_anything_is_sent(tmp_path, namespaces) -> None:
    tester, _ = namespaces
    with pytest.raises(TestbedError, match=r"tester.interface: no interface 'eth9' in namespace .*there: lo, tb-va, tb-wa"):
        resolve(load(_file(tmp_path, tester, "eth9")))
    with pytest.raises(TestbedError, match=r"tester.interface: the route to the DUT's NBMA address 192.0.2.1 in namespace .* goes via tb-va, not tb-wa"):
        resolve(load(_file(tmp_path, tester, "tb-wa")))
    with pytest.raises(TestbedError, match=r"dut.nbma: 192.0.2.2 is an address of the tester itself"):
        resolve(load(_file(tmp_path, tester, None, nbma="192.0.2.2")))
    with pytest.raises(TestbedError, match=r"tester.namespace: no network namespace 'nope'"):
        resolve(load(_file(tmp_path, "nope", None)))
    subprocess.run(["ip", "-n", tester, "link", "set", "tb-va", "down"], check=True)
    with pytest.raises(TestbedError, match=r"tester.interface: tb-va in namespace .* is down"):
        resolve(load(_file(tmp_path, tester, "tb-va")))


def test_dry_run_prints_the_plan_and_sends_nothing(tmp_path, namespaces) -> None:
    tester, dut_ns = namespaces
    path = _file(tmp_path, tester, "tb-va")
    with GreSocket(Interlock(["192.0.2.0/24"]), netns=dut_ns) as far:
        for argv in (["-m", "dmvpn.cli", "run", "--testbed", str(path), "--dry-run"], ["-m", "dmvpn.cli", "testbed", "check", str(path)]):
            proc = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stderr
            out = proc.stdout
            assert f"tester: namespace {tester}, interface tb-va (192.0.2.2/24)" in out
            assert "route to 192.0.2.1: dev tb-va src 192.0.2.2" in out
            assert "first packet: Registration Request 192.0.2.129 -> 192.0.2.1" in out
            assert "the interlock refuses any destination outside: 192.0.2.1/32, 192.0.2.128/25" in out
            assert "cases: " in out and "22 not applicable: case is for a DUT spoke" in out
            assert out.rstrip().endswith("dry run: nothing was sent")
        assert _received(far, 0.3) == []


def test_a_bad_interface_stops_dmvpn_run_and_pytest_in_one_line(tmp_path, namespaces) -> None:
    tester, _ = namespaces
    path = _file(tmp_path, tester, "eth9")
    proc = subprocess.run([sys.executable, "-m", "dmvpn.cli", "run", "--testbed", str(path), "--suite", "conformance",
                           "--reports", str(tmp_path / "reports")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "tester.interface" in proc.stderr, proc.stderr
    assert not (tmp_path / "reports").exists()
    proc = subprocess.run([sys.executable, "-m", "pytest", "suites/conformance", "--testbed", str(path), "-p", "no:cacheprovider"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 4
    assert [line for line in proc.stderr.splitlines() if "tester.interface" in line], proc.stderr


def test_plan_of_a_spoke_file(tmp_path) -> None:
    data = yaml.safe_load((ROOT / "suites" / "testbeds" / "example-frr-spoke.yaml").read_text())
    testbed = load_dict(data, tmp_path)
    lines = plan(testbed)
    text = "\n".join(lines)
    assert "the tester plays the DUT's NHS at 192.0.2.100" in text
    assert "spoke.register: configure terminal ; interface gre1" in text
    assert "vtysh -c 'show ip nhrp cache json'" in text


def load_dict(data: dict, tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(data))
    return load(path)


def test_a_missing_password_variable_is_named(tmp_path, monkeypatch) -> None:
    data = yaml.safe_load((ROOT / "suites" / "testbeds" / "example-frr-spoke.yaml").read_text())
    data["tester"]["interface"] = None
    data["management"]["password_env"] = "DMVPN_NO_SUCH_VARIABLE"
    monkeypatch.delenv("DMVPN_NO_SUCH_VARIABLE", raising=False)
    with pytest.raises(TestbedError, match=r"management.password_env: the environment has no DMVPN_NO_SUCH_VARIABLE"):
        resolve(load_dict(data, tmp_path))
