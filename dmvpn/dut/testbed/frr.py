"""The management kind `frr-vtysh`: FRR (or VyOS, which runs FRR) over SSH.

Every query is ``vtysh -c '<command>' ...`` with its arguments quoted for the remote shell
(:func:`dmvpn.dut.testbed.ssh.quote`), and every answer is parsed by the lab's own parsers in
:mod:`dmvpn.lab.mgmt` (one parser per FRR answer in the project). Health comes from the process
table (``pidof nhrpd`` and ``pidof zebra``): a new pid is a restart.
"""

from __future__ import annotations

from dmvpn.lab.mgmt import parse_nhrp_cache, parse_shortcuts, parse_xfrm_states

from .ssh import ManagementError, quote

#: one line per daemon: "nhrpd 1234" or "nhrpd -"
_PIDS = 'for d in nhrpd zebra; do p=$(pidof "$d" 2>/dev/null); echo "$d ${p:--}"; done'


class FrrManagement:
    kind = "frr-vtysh"

    def __init__(self, client, vtysh: tuple[str, ...] = ("vtysh",)) -> None:
        self.client = client
        self.vtysh_argv = tuple(vtysh)

    def vtysh(self, *commands: str) -> str:
        argv = list(self.vtysh_argv)
        for command in commands:
            argv += ["-c", command]
        return self.client.run(quote(argv))

    def shell(self, command: str) -> str:
        return self.client.run(command)

    def cache(self) -> list[dict]:
        return [{"proto": e.protocol, "nbma": e.nbma, "claimed_nbma": e.claimed_nbma, "type": e.type}
                for e in parse_nhrp_cache(self.vtysh("show ip nhrp cache json"))]

    def shortcuts(self) -> list[dict]:
        text = self.vtysh("show ip nhrp shortcut json")
        nbma = {row["proto"]: row["nbma"] for row in self.cache()}
        return [{"prefix": s.prefix, "type": s.type, "via": s.via, "nbma": nbma.get(s.via, "")} for s in parse_shortcuts(text)]

    def esp_counters(self, tester: str) -> dict:
        states = [s for s in parse_xfrm_states(self.client.run(quote(["ip", "-s", "xfrm", "state"]))) if s.src == tester]
        return {"integrity_failed": sum(s.stats.get("failed", 0) for s in states),
                "replay": sum(s.stats.get("replay", 0) for s in states),
                "packets": sum(s.packets for s in states), "sas": len(states)}

    def nhrp_identity(self) -> tuple[bool, str, tuple]:
        pids = dict(line.split(None, 1) for line in self.client.run(_PIDS).splitlines() if len(line.split()) == 2)
        missing = [d for d in ("nhrpd", "zebra") if not pids.get(d, "-").split()[0].isdigit()]
        if missing:
            return False, f"{', '.join(missing)} not running", ()
        return True, f"nhrpd {pids['nhrpd']}, zebra {pids['zebra']}", (pids["nhrpd"], pids["zebra"])

    def reset(self, role: str) -> str:
        commands = ["clear ip nhrp cache"] + (["clear ip nhrp shortcut"] if role == "spoke" else [])
        self.vtysh(*commands)
        return " / ".join(commands)

    def run_commands(self, commands: list, values: dict) -> str:
        """vtysh commands (strings) in one vtysh call; {shell: ...} entries in the remote shell."""
        out, batch = [], []
        for command in commands:
            if isinstance(command, dict):
                if batch:
                    out.append(self.vtysh(*batch))
                    batch = []
                # placeholders in a shell line are quoted: a value never becomes shell syntax
                out.append(self.client.run(command["shell"].format(**{k: quote([v]) for k, v in values.items()}), check=False))
            else:
                batch.append(command.format(**values))
        if batch:
            out.append(self.vtysh(*batch))
        return "".join(out)

    def describe(self) -> str:
        return f"{self.client.target.describe()} ({quote(self.vtysh_argv)} -c '...' json; pidof nhrpd zebra)"


__all__ = ["FrrManagement", "ManagementError"]
