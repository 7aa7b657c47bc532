"""A testbed DUT managed over SSH: quoting, authentication, host keys, health, bounded recovery, and
a spoke-role testbed running the spoke cases.

The router is an asyncssh server in this process (tests/conformance/fake_router.py) whose FRR
answers come from the in-process fake spoke; the tester's link to it is that fake spoke's
in-memory link (nothing leaves the process). Everything else, the file, the SSH session, the
quoting, FRR's JSON through the lab's parsers, the spoke's commands, is the testbed path a router
is run through.
"""

from __future__ import annotations

import pytest
import yaml

from dmvpn.conformance import Verdict, all_cases
from dmvpn.dut.inprocess import InProcessSpokeDut
from dmvpn.dut.testbed import TestbedDut, load
from dmvpn.dut.testbed.ssh import ManagementError

from .fake_router import PASSWORD, FakeFrrSpoke, FakeSshRouter
from .selftest import case_functions, group_modules, run

FUNCTIONS = {cid: fn for cid, fn in case_functions(group_modules()).items() if fn.case_info.role == "spoke"}
SPOKE_CASES = sorted(cid for cid, info in all_cases().items() if cid in FUNCTIONS and info.role == "spoke")
DATA_CASES = {cid for cid in SPOKE_CASES if "send-data" in all_cases()[cid].requires}


def spoke_file(tmp_path, router: FakeSshRouter, **spoke) -> dict:
    section = {
        "nhs_nbma": "192.0.2.100", "nhs_tunnel": "10.255.0.100", "lan": "10.103.0.0/24", "peer_lans": "10.200.0.0/16",
        "retry_window": 0.6, "shortcut_holding_time": 1, "renewal_holding_time": 1,
        "register": ["configure terminal", "interface gre1", "no ip nhrp nhs {nhs_tunnel} nbma {nhs_nbma}",
                     "ip nhrp nhs {nhs_tunnel} nbma {nhs_nbma}"],
        "send_data": [{"shell": "ping -n -q -c {count} -I {src} {dst}"}],
    }
    section.update(spoke)
    return {
        "dut": {"name": "fake FRR spoke over SSH", "implementation": "in-process-spoke", "role": "spoke",
                "nbma": "192.0.2.13", "tunnel": "10.255.0.13", "gre_key": 42, "holding_time": 3,
                "capabilities": ["shortcut", "nat", "purge"], "reply_window": 0.05, "quiet_window": 0.05,
                "recovery_timeout": 0.5},
        "tester": {"nbma_pool": ["192.0.2.128/25"], "tunnel_pool": ["10.255.0.128/25"], "nat_pool": ["198.51.100.0/24"],
                   "allowed_prefixes": ["192.0.2.0/24"]},
        "spoke": {k: v for k, v in section.items() if v is not None},
        "management": {"kind": "frr-vtysh", "host": "127.0.0.1", "port": router.port, "username": "admin",
                       "password_env": "DMVPN_TEST_SSH_PASSWORD", "known_hosts": str(router.known_hosts), "timeout": 10},
    }


class InMemoryTestbedDut(TestbedDut):
    """The testbed DUT with the fake spoke's in-memory link instead of a raw socket."""

    fake: InProcessSpokeDut

    def open_link(self):
        return self.fake.open_link()


@pytest.fixture
def rig(tmp_path, monkeypatch):
    monkeypatch.setenv("DMVPN_TEST_SSH_PASSWORD", PASSWORD)
    made = []

    def make(faults=frozenset(), **spoke):
        fake = InProcessSpokeDut(set(faults))
        router = FakeSshRouter(FakeFrrSpoke(fake), tmp_path)
        path = tmp_path / f"spoke{len(made)}.yaml"
        path.write_text(yaml.safe_dump(spoke_file(tmp_path, router, **spoke)))
        dut = InMemoryTestbedDut(load(path))
        dut.fake = fake
        made.append((dut, router))
        return dut, router, fake

    yield make
    for dut, router in made:
        dut.close()
        router.close()


def test_vtysh_arguments_are_quoted_for_the_remote_shell(rig) -> None:
    dut, router, fake = rig()
    fake.open_link()
    fake.trigger_registration()
    assert dut.cache() == []
    assert router.commands[-1] == "vtysh -c 'show ip nhrp cache json'"
    # what the old path sent: the remote shell splits it, and vtysh refuses it
    with pytest.raises(ManagementError, match="exited 1"):
        dut.management.client.run("vtysh -c show ip nhrp cache json")


def test_state_health_and_reset_over_ssh(rig) -> None:
    dut, router, fake = rig()
    state = dut.health_state()
    assert state.alive and state.ids == ("4242", "4241")
    assert dut.reset_state() == "clear ip nhrp cache / clear ip nhrp shortcut"
    router.handler.pids["nhrpd"] = 5000  # restarted: a new identity
    assert dut.health_state().ids == ("5000", "4241")
    fake.spoke.crashed = True
    state = dut.health_state()
    assert not state.alive and state.why == "nhrpd, zebra not running"


def test_recovery_waits_with_a_bound_then_gives_up_at_once(rig) -> None:
    dut, router, fake = rig()
    assert dut.recover() == ""
    assert "nothing to restart" in dut.recover(force=True)
    fake.spoke.crashed = True
    with pytest.raises(RuntimeError, match="did not come back within 0.5 s"):
        dut.recover(poll=0.1)
    with pytest.raises(RuntimeError, match="did not come back"):
        dut.recover(poll=0.1)  # at once: the rest of the run is inconclusive, not 0.5 s each
    fake.spoke.crashed = False
    assert dut.recover(poll=0.1) == "the DUT is back"


def test_wrong_password_and_unknown_host_key_are_refused(rig, monkeypatch, tmp_path) -> None:
    dut, router, fake = rig()
    monkeypatch.setenv("DMVPN_TEST_SSH_PASSWORD", "wrong")
    other = TestbedDut(load(_write(tmp_path, spoke_file(tmp_path, router))))
    try:
        with pytest.raises(ManagementError, match="PermissionDenied"):
            other.cache()
        assert not other.health_state().alive
    finally:
        other.close()
    monkeypatch.setenv("DMVPN_TEST_SSH_PASSWORD", PASSWORD)
    data = spoke_file(tmp_path, router)
    (tmp_path / "empty_known_hosts").write_text("")
    data["management"]["known_hosts"] = str(tmp_path / "empty_known_hosts")
    stranger = TestbedDut(load(_write(tmp_path, data)))
    try:
        with pytest.raises(ManagementError, match="HostKeyNotVerifiable|not trusted"):
            stranger.cache()
    finally:
        stranger.close()


def _write(tmp_path, data: dict):
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_spoke_testbed_runs_the_spoke_cases(rig) -> None:
    dut, router, fake = rig()
    assert {"trigger-registration", "send-data", "cache"} <= dut.info.capabilities
    verdicts = {cid: run(FUNCTIONS[cid], cid, dut) for cid in SPOKE_CASES}
    assert len(verdicts) == 22
    wrong = {cid: f"{r.verdict.value}: {r.detail} | {r.notes}" for cid, r in verdicts.items() if r.verdict is not Verdict.CONFORMS}
    assert not wrong, wrong
    assert any("ping -n -q -c 3 -I 10.103.0.1 " in c for c in router.commands)


@pytest.mark.parametrize("case_id,fault", [("NHC-04", "no-retransmit"), ("P3-06", "data-via-nhs"), ("RES-11", "cache-unsolicited")])
def test_a_wrong_spoke_deviates_through_the_testbed(rig, case_id, fault) -> None:
    dut, router, fake = rig({fault})
    result = run(FUNCTIONS[case_id], case_id, dut)
    assert result.verdict is Verdict.DEVIATES, f"{result.verdict.value}: {result.detail}"


def test_a_spoke_testbed_without_commands(rig) -> None:
    """What the file cannot make the DUT do, the cases that need it do not apply to, with the reason."""
    dut, router, fake = rig(register=None, send_data=None)
    assert not {"trigger-registration", "send-data"} & dut.info.capabilities
    results = {cid: run(FUNCTIONS[cid], cid, dut) for cid in SPOKE_CASES}
    assert {r.verdict for r in results.values()} == {Verdict.NOT_APPLICABLE}
    assert all("the DUT lacks: trigger-registration" in r.detail for r in results.values())


def test_a_spoke_testbed_that_cannot_send_data(rig) -> None:
    dut, router, fake = rig(send_data=None)
    results = {cid: run(FUNCTIONS[cid], cid, dut) for cid in SPOKE_CASES}
    skipped = {cid for cid, r in results.items() if r.verdict is Verdict.NOT_APPLICABLE}
    assert skipped == DATA_CASES
    assert all(results[cid].detail == "the DUT lacks: send-data" for cid in DATA_CASES)
    assert all(r.verdict is Verdict.CONFORMS for cid, r in results.items() if cid not in DATA_CASES)


# -- a Cisco hub over SSH, answering with the parser libraries' sample outputs --------------------

FIXTURES = __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures" / "cisco"


class FakeCiscoHub:
    """IOS exec answers: `show ip nhrp` from Genie's sample, the process table and version from
    ntc-templates' samples with an NHRP process added (its pid settable: a restart)."""

    def __init__(self) -> None:
        ntc = FIXTURES / "ntc-templates"
        self.nhrp = (FIXTURES / "genieparser" / "ShowIpNhrp.golden_output.txt").read_text()
        self.cpu = (ntc / "cisco_ios_show_processes_cpu.raw").read_text()
        self.version = (ntc / "cisco_ios_show_version.raw").read_text()
        self.pid = 321
        self.cleared = 0

    def __call__(self, argv: list[str], command: str) -> tuple[str, int]:
        if command == "show ip nhrp":
            return self.nhrp.replace("\n", "\r\n"), 0
        if command == "show processes cpu":
            return self.cpu + f" {self.pid:4d}          12        40        300  0.00%  0.00%  0.00%   0 NHRP\n", 0
        if command == "show version":
            return self.version, 0
        if command == "clear ip nhrp":
            self.cleared += 1
            return "", 0
        return "% Invalid input detected at '^' marker.\n", 0


@pytest.fixture
def cisco_hub(tmp_path, monkeypatch):
    from dmvpn.dut import InProcessDut

    monkeypatch.setenv("DMVPN_TEST_SSH_PASSWORD", PASSWORD)
    ios = FakeCiscoHub()
    router = FakeSshRouter(ios, tmp_path)
    backend = InProcessDut()
    data = {
        "dut": {"name": "fake IOS hub over SSH", "implementation": "in-process", "role": "hub", "nbma": backend.info.nbma,
                "tunnel": backend.info.proto, "gre_key": 42, "holding_time": 600, "reply_window": 0.05, "quiet_window": 0.05},
        "tester": {"nbma_pool": ["192.0.2.128/25"], "tunnel_pool": ["10.255.0.0/24"]},
        "management": {"kind": "cisco-ios", "host": "127.0.0.1", "port": router.port, "username": "admin",
                       "password_env": "DMVPN_TEST_SSH_PASSWORD", "known_hosts": str(router.known_hosts)},
    }
    dut = InMemoryHub(load(_write(tmp_path, data)))
    dut.backend = backend
    yield dut, ios, router
    dut.close()
    router.close()


class InMemoryHub(TestbedDut):
    def open_link(self):
        return self.backend.open_link()


def test_cisco_state_and_health_over_ssh(cisco_hub) -> None:
    dut, ios, router = cisco_hub
    assert {r["proto"]: r["nbma"] for r in dut.cache()}["100.0.0.2"] == "103.1.1.1"
    assert dut.shortcuts() == [{"prefix": "123.1.1.0/24", "type": "dynamic", "via": "100.0.0.2", "nbma": "103.1.1.1"}]
    assert dut.health_state().ids == (0, ("321",))
    assert dut.reset_state() == "clear ip nhrp" and ios.cleared == 1
    assert router.commands[:2] == ["show ip nhrp", "show ip nhrp"]


def test_a_restarted_nhrp_process_makes_the_case_a_crash(cisco_hub) -> None:
    from dmvpn.conformance.runner import run_case

    dut, ios, router = cisco_hub
    functions = case_functions(group_modules(["registration"]))
    case_id = sorted(functions)[0]

    def restart_during(ctx):
        functions[case_id](ctx)
        ios.pid = 654  # the router restarted its NHRP process during the case

    result = run_case(restart_during, all_cases()[case_id], dut, dut.open_link(), None, None)
    assert result.verdict is Verdict.CRASHES and "restarted during the case" in " ".join(result.notes), result
    # the same pid before and after: no crash (the verdict itself reads the sample's cache, not the backend's)
    again = run_case(functions[case_id], all_cases()[case_id], dut, dut.open_link(), None, None)
    assert again.verdict is not Verdict.CRASHES, again.detail
