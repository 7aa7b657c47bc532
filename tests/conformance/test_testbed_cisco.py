"""Cisco IOS state from the parser libraries' own sample outputs (tests/fixtures/cisco/README.md).

Each sample is parsed as the testbed DUT parses a router's answer, held against the library's own
expected parse, and turned into what the cases read: `cache()`, `shortcuts()`, `esp_counters()`
and the health identity.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from dmvpn.dut.testbed import cisco
from dmvpn.dut.testbed.cisco import CiscoManagement

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cisco"
NTC = FIXTURES / "ntc-templates"
GENIE = FIXTURES / "genieparser"


def _ntc(name: str) -> tuple[str, list[dict]]:
    return (NTC / f"{name}.raw").read_text(), yaml.safe_load((NTC / f"{name}.yml").read_text())["parsed_sample"]


def _genie(name: str) -> tuple[str, dict]:
    source = (GENIE / f"{name}.golden_expected.py").read_text()
    expected = ast.literal_eval(source.split("=", 1)[1].strip())
    return (GENIE / f"{name}.golden_output.txt").read_text(), expected


def _as_genie(rows: list[dict]) -> dict:
    """Our rows in Genie's ShowIpNhrp schema, to compare entry by entry."""
    out: dict = {}
    for r in rows:
        out.setdefault(r["prefix"], {"via": {}})["via"][r["via"]] = {
            "tunnel": {"tunnel_name": r["interface"], "created": r["created"], "expire": r["expire"]},
            "type": r["type"], "flags": r["flags"], "nbma_address": r["nbma"]}
    return out


@pytest.mark.parametrize("name", ["ShowIpNhrp", "ShowIpNhrpDetail"])
def test_show_ip_nhrp_reads_genies_sample_as_genie_does(name: str) -> None:
    text, expected = _genie(name)
    rows = cisco.parse_show_ip_nhrp(text)
    mine = _as_genie(rows)
    for via in (v for entry in expected.values() for v in entry["via"].values()):
        for key in ("preference", "requester", "request_id"):  # `detail` only; not read by the cases
            via.pop(key, None)
    assert mine == expected
    assert [r for r in rows if r["no_socket"]] == [r for r in rows if r["prefix"] == "100.0.0.1/32"]


def test_show_ip_nhrp_into_the_cache_and_shortcuts() -> None:
    text, _ = _genie("ShowIpNhrp")
    entries = cisco.parse_show_ip_nhrp(text)
    cache = cisco.cache_rows(entries)
    assert {r["proto"]: (r["nbma"], r["type"]) for r in cache} == {
        "100.0.0.2": ("103.1.1.1", "dynamic"),
        "100.0.0.100": ("101.1.1.1", "static"),
        "100.0.0.1": ("102.1.1.1", "local"),  # Flags: router unique local: the DUT's own entry
        "111.0.0.100": ("111.1.1.1", "static"),
    }
    assert all(r["claimed_nbma"] == r["nbma"] for r in cache)  # no NAT in the sample
    assert cisco.shortcut_rows(entries) == [{"prefix": "123.1.1.0/24", "type": "dynamic", "via": "100.0.0.2", "nbma": "103.1.1.1"}]


def test_show_ip_nhrp_behind_a_nat() -> None:
    """The sample has no NATed entry: the Genie sample's first entry with IOS's claimed-NBMA line."""
    text, _ = _genie("ShowIpNhrp")
    for nat in ("   NBMA address: 103.1.1.1 \n    (Claimed NBMA address: 10.1.1.1)",
                "   NBMA address: 103.1.1.1 (Claimed NBMA address: 10.1.1.1)"):
        rows = cisco.cache_rows(cisco.parse_show_ip_nhrp(text.replace("   NBMA address: 103.1.1.1", nat, 1)))
        assert rows[0] == {"proto": "100.0.0.2", "nbma": "103.1.1.1", "claimed_nbma": "10.1.1.1", "type": "dynamic",
                           "flags": "router nhop rib", "interface": "Tunnel100"}


def test_show_ip_nhrp_refuses_what_it_does_not_know() -> None:
    import textfsm

    with pytest.raises(textfsm.TextFSMError):
        cisco.parse_show_ip_nhrp("100.0.0.2/32 via 100.0.0.2\n   something new: 1\n")
    assert cisco.parse_show_ip_nhrp("") == []


def test_show_dmvpn_as_ntc_templates_parses_it() -> None:
    text, expected = _ntc("cisco_ios_show_dmvpn")
    assert cisco.parse_show_dmvpn(text) == expected


@pytest.mark.parametrize("name", ["cisco_ios_show_crypto_ipsec_sa_detail", "cisco_ios_show_crypto_ipsec_sa_detail_2",
                                  "cisco_ios_show_crypto_ipsec_sa_detail_3"])
def test_crypto_ipsec_sa_into_esp_counters(name: str) -> None:
    text, expected = _ntc(name)
    sas = cisco.parse_crypto_ipsec_sa_detail(text)
    assert sas == expected
    peer = expected[0]["current_peer"]
    mine = [sa for sa in expected if sa["current_peer"] == peer]
    counters = cisco.esp_counters(sas, peer)
    assert counters == {"integrity_failed": sum(int(sa["pkts_verify_failed"]) for sa in mine),
                        "replay": sum(int(sa["pkts_replay_failed"]) for sa in mine),
                        "packets": sum(int(sa["pkts_decaps"]) for sa in mine), "sas": len(mine)}
    assert counters["sas"] >= 1 and cisco.esp_counters(sas, "192.0.2.254")["sas"] == 0


def test_health_identity_from_the_process_table_and_uptime() -> None:
    cpu, expected_cpu = _ntc("cisco_ios_show_processes_cpu")
    version, expected_version = _ntc("cisco_ios_show_version")
    assert cisco.parse_processes_cpu(cpu) == expected_cpu
    assert cisco.parse_show_version(version) == expected_version
    assert cisco.uptime_minutes(expected_version) == 2 * 525600 + 31 * 10080 + 6 * 1440 + 9 * 60 + 55
    assert cisco.nhrp_pids(expected_cpu) == ()  # this switch runs no NHRP
    # The same table with an NHRP process, as an IOS router lists it
    line = next(l for l in cpu.splitlines() if l.strip().startswith("1 ") and "Chunk Manager" in l)
    with_nhrp = cpu.replace(line, line + "\n" + line.replace("   1 ", " 321 ", 1).replace("Chunk Manager", "NHRP"), 1)

    class Fake:
        target = None

        def __init__(self) -> None:
            self.answers = {"show processes cpu": with_nhrp, "show version": version}

        def run(self, command, stdin=None, check=True):
            return self.answers[command]

    fake = Fake()
    m = CiscoManagement(fake)
    assert m.nhrp_identity() == (True, "NHRP pids 321", (0, ("321",)))
    fake.answers["show version"] = version.replace("2 years, 31 weeks, 6 days, 9 hours, 55 minutes", "3 minutes")
    assert m.nhrp_identity()[2] == (1, ("321",))  # the uptime went back: a reload, a new identity
    fake.answers["show processes cpu"] = cpu
    assert m.nhrp_identity() == (False, "no NHRP process in `show processes cpu`", ())
