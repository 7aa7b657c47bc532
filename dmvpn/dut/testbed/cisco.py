"""Cisco IOS / IOS-XE state, parsed with TextFSM, and the management kind `cisco-ios` (over SSH).

Parser library: TextFSM (Google's, 2.1 here) with Network to Code's ntc-templates (9.x; about 4 MB)
for what they cover: `show dmvpn`, `show crypto ipsec sa detail`, `show processes cpu` and
`show version`. ntc-templates has no template for `show ip nhrp`; Cisco's Genie parsers do, but
`genie` pulls in pyATS, unicon and about 40 other packages (717 MB in a fresh Python 3.11 venv,
268 MB of it genie.libs.parser alone) and its parsers do not import without pyATS: out of all
proportion for one command. `show ip nhrp` is therefore read by a TextFSM template of ours
(templates/cisco_ios_show_ip_nhrp.textfsm), held in the tests against Genie's own sample output
and Genie's expected parse, so that both read the same device text the same way.

What the cases read is turned out of those tables here, in the DUT adapter's vocabulary
(dmvpn.dut.Dut): `cache()` rows with proto/nbma/claimed_nbma/type, `shortcuts()` rows with
prefix/type/via/nbma, `esp_counters()` with integrity_failed/replay/packets.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from .ssh import ManagementError

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _ntc(command: str, text: str) -> list[dict]:
    from ntc_templates.parse import parse_output

    return parse_output(platform="cisco_ios", command=command, data=_clean(text))


def _clean(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_show_ip_nhrp(text: str) -> list[dict]:
    """`show ip nhrp` as one dict per entry (lower-case TextFSM value names)."""
    import textfsm

    with open(TEMPLATES / "cisco_ios_show_ip_nhrp.textfsm") as f:
        fsm = textfsm.TextFSM(f)
    rows = fsm.ParseText(_clean(text))
    names = [h.lower() for h in fsm.header]
    return [dict(zip(names, row)) for row in rows]


def parse_show_dmvpn(text: str) -> list[dict]:
    """`show dmvpn`: peer_nbma, peer_tunnel, state, uptime, attribute (ntc-templates)."""
    return _ntc("show dmvpn", text)


def parse_crypto_ipsec_sa_detail(text: str) -> list[dict]:
    return _ntc("show crypto ipsec sa detail", text)


def parse_processes_cpu(text: str) -> list[dict]:
    return _ntc("show processes cpu", text)


def parse_show_version(text: str) -> list[dict]:
    return _ntc("show version", text)


# -- into the DUT's state --------------------------------------------------------------------------


def _entry_type(row: dict) -> str:
    flags = row.get("flags", "").split()
    if "local" in flags:
        return "local"  # FRR's word for the DUT's own entry
    return row.get("type", "")


def _is_host_entry(row: dict) -> bool:
    net = ipaddress.ip_network(row["prefix"], strict=False)
    return net.prefixlen == net.max_prefixlen


def cache_rows(entries: list[dict]) -> list[dict]:
    """The NHRP cache (host entries) as the cases read it."""
    return [
        {"proto": str(ipaddress.ip_network(e["prefix"], strict=False).network_address), "nbma": e.get("nbma", ""),
         "claimed_nbma": e.get("claimed_nbma") or e.get("nbma", ""), "type": _entry_type(e), "flags": e.get("flags", ""),
         "interface": e.get("interface", "")}
        for e in entries if _is_host_entry(e)
    ]


def shortcut_rows(entries: list[dict]) -> list[dict]:
    """Shortcut routes (entries for a prefix, not a host) as the cases read them."""
    return [
        {"prefix": e["prefix"], "type": e.get("type", ""), "via": e.get("via", ""), "nbma": e.get("nbma", "")}
        for e in entries if not _is_host_entry(e)
    ]


def esp_counters(sas: list[dict], tester: str) -> dict:
    """Integrity failures, replays and packets received on the SAs with `tester`."""
    mine = [sa for sa in sas if sa.get("current_peer") == tester or sa.get("remote_crypto_endpt") == tester]

    def total(key: str) -> int:
        return sum(int(sa.get(key) or 0) for sa in mine)

    return {"integrity_failed": total("pkts_verify_failed"), "replay": total("pkts_replay_failed"),
            "packets": total("pkts_decaps"), "sas": len(mine)}


def nhrp_pids(processes: list[dict]) -> tuple[str, ...]:
    """PIDs of the NHRP processes in the process table (a restart gives new ones)."""
    return tuple(sorted(p["process_pid"] for p in processes if "nhrp" in p.get("process_name", "").lower()))


def uptime_minutes(version: list[dict]) -> int | None:
    if not version:
        return None
    v = version[0]
    factors = {"uptime_years": 525600, "uptime_weeks": 10080, "uptime_days": 1440, "uptime_hours": 60, "uptime_minutes": 1}
    if not any(v.get(k) for k in factors):
        return None
    return sum(int(v.get(k) or 0) * m for k, m in factors.items())


class CiscoManagement:
    """IOS / IOS-XE over SSH: exec requests for `show` and `clear`, a shell session for config lines."""

    kind = "cisco-ios"

    def __init__(self, client) -> None:
        self.client = client
        self._last_uptime: int | None = None
        self._reloads = 0

    def show(self, command: str) -> str:
        return _clean(self.client.run(command))

    def cache(self) -> list[dict]:
        return cache_rows(parse_show_ip_nhrp(self.show("show ip nhrp")))

    def shortcuts(self) -> list[dict]:
        return shortcut_rows(parse_show_ip_nhrp(self.show("show ip nhrp")))

    def peers(self) -> list[dict]:
        return parse_show_dmvpn(self.show("show dmvpn"))

    def esp_counters(self, tester: str) -> dict:
        return esp_counters(parse_crypto_ipsec_sa_detail(self.show("show crypto ipsec sa detail")), tester)

    def nhrp_identity(self) -> tuple[bool, str, tuple]:
        """(alive, why, ids): NHRP processes present, and how many reloads were seen (uptime going
        back) since the first look: either changing is a restart."""
        pids = nhrp_pids(parse_processes_cpu(self.show("show processes cpu")))
        uptime = uptime_minutes(parse_show_version(self.show("show version")))
        if uptime is not None:
            if self._last_uptime is not None and uptime < self._last_uptime:
                self._reloads += 1
            self._last_uptime = uptime
        if not pids:
            return False, "no NHRP process in `show processes cpu`", ()
        return True, f"NHRP pids {','.join(pids)}", (self._reloads, pids)

    def reset(self, role: str) -> str:
        self.client.run("clear ip nhrp")
        return "clear ip nhrp"

    def run_commands(self, commands: list, values: dict) -> str:
        """Exec one command, or feed several lines (configuration) to a shell session."""
        lines = [c.format(**values) for c in commands]
        if len(lines) == 1:
            return self.client.run(lines[0], check=False)
        return self.client.run(None, stdin="\n".join(["terminal length 0", *lines, "end", "exit", ""]), check=False)

    def describe(self) -> str:
        return f"{self.client.target.describe()} (Cisco IOS exec: show ip nhrp, show processes cpu, show version)"


__all__ = ["CiscoManagement", "ManagementError", "cache_rows", "esp_counters", "nhrp_pids", "parse_crypto_ipsec_sa_detail",
           "parse_processes_cpu", "parse_show_dmvpn", "parse_show_ip_nhrp", "parse_show_version", "shortcut_rows", "uptime_minutes"]
