"""The embedded lab as DUT: FRR nhrpd hub (and spokes) in user-mode Linux guests."""

from __future__ import annotations

import re
import time

from dmvpn.lab import Lab, NodeOptions, Topology
from dmvpn.lab.topology import TESTER_EXTRA_NETS, TESTER_POOL
from dmvpn.transport import GreSocket, Interlock

from . import Dut, DutInfo, DutSet, address_pool

LAB_PREFIXES = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")


def frr_version(lab: Lab, node: str) -> str:
    """"8.4.4" from `show version`, or "" when it cannot be read."""
    text = lab.vtysh(node, "show version")
    match = re.search(r"FRRouting (\d+(?:\.\d+)+)", text)
    return match.group(1) if match else ""


def supports_authentication(lab: Lab, node: str) -> bool:
    """Whether this nhrpd knows `ip nhrp authentication` (FRR 8.4 does not): try it on a scratch line."""
    argv = ["vtysh", "-c", "configure terminal", "-c", "interface gre1", "-c", "ip nhrp authentication probe",
            "-c", "no ip nhrp authentication probe"]
    result = lab.exec(node, argv, timeout=15)
    text = result.stdout + result.stderr
    return result.rc == 0 and "Unknown command" not in text


#: tester addresses with manual ESP SAs to every guest (plain ESP, and NAT-T); kept out of the pools
ESP_TESTER, ESP_TESTER_NAT_T = "192.0.2.250", "198.51.100.250"


def conformance_topology() -> Topology:
    """Hub + 2 FRR spokes registered to it, and spoke3 whose NHS is the tester (the DUT-NHC);
    ESP SAs between the guests and two tester addresses for the ESP cases."""
    return Topology(
        hubs=1, spokes=3, options={"spoke3": NodeOptions(nhs_is_tester=True)},
        esp_tester=(ESP_TESTER,), esp_tester_nat_t=(ESP_TESTER_NAT_T,),
    )


class LabDut(Dut):
    """The lab's hub as the DUT (role hub)."""

    def __init__(self, lab: Lab, node: str = "hub", owns_lab: bool = True) -> None:
        self.lab = lab
        self.node = node
        self.owns_lab = owns_lab
        version = frr_version(lab, node)
        major_minor = ".".join(version.split(".")[:2]) if version else "unknown"
        capabilities = {"redirect", "nat", "shortcut"}
        if supports_authentication(lab, node):
            capabilities.add("authentication")
        topo = lab.topology
        esp_addresses = set(topo.esp_tester) | set(topo.esp_tester_nat_t)
        if topo.esp_tester:
            capabilities |= {"esp", "anti-replay"}  # the lab's SAs have a 64-packet replay window
            if topo.esp_tester_nat_t:
                capabilities.add("nat-t")
        self._esp_link = None
        hub = lab.node(node)
        info = DutInfo(
            name=f"FRR {version or '?'} nhrpd {node} (embedded lab)",
            implementation=f"frr-{major_minor}",
            role="hub",
            nbma=str(hub.nbma),
            proto=str(hub.tunnel),
            gre_key=lab.topology.gre_key,
            holding_time=lab.topology.holdtime,
            tester_nbma=address_pool(str(TESTER_POOL), skip=esp_addresses),
            tester_proto=address_pool("10.255.0.128/25"),
            nat_nbma=address_pool(*(str(n) for n in TESTER_EXTRA_NETS), skip=esp_addresses),
            capabilities=frozenset(capabilities),
            allowed_prefixes=LAB_PREFIXES,
        )
        super().__init__(info)


    def open_link(self) -> GreSocket:
        return GreSocket(Interlock(self.info.allowed_prefixes), netns=self.lab.ns)

    def cache(self) -> list[dict]:
        """The hub's cache; raises when nhrpd does not answer (callers note it as unavailable)."""
        return [
            {"proto": e.protocol, "nbma": e.nbma, "claimed_nbma": e.claimed_nbma, "type": e.type}
            for e in self.lab.nhrp_cache(self.node)
        ]

    def health(self) -> tuple[bool, str]:
        health = self.lab.health(self.node)
        if health.ok:
            return True, "ok"
        if not health.guest_alive:
            return False, "guest down"
        missing = sorted(name for name, pid in health.daemons.items() if not pid)
        if missing:
            return False, f"{', '.join(missing)} not running"
        return False, "vtysh not answering"

    def log(self) -> str:
        return self.lab.logs(self.node)

    def recover(self) -> str:
        """Start nhrpd again if it died (as the guest's init started it) and wait until it is ready."""
        health = self.lab.health(self.node)
        if health.ok:
            return ""
        conf = self.lab.run_dir / self.node / "nhrpd.conf"
        self.lab.exec(self.node, ["/usr/lib/frr/nhrpd", "-d", "-A", "127.0.0.1", "-f", str(conf)], timeout=30)
        tunnel = f" {self.info.proto} "
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            result = self.lab.exec(self.node, ["vtysh", "-d", "nhrpd", "-c", "show ip nhrp cache"], timeout=10)
            if result.rc == 0 and tunnel in result.stdout:
                return f"nhrpd was not running ({health.error or health.daemons}); restarted it"
            time.sleep(0.2)
        raise RuntimeError(f"nhrpd on {self.node} did not come back after a restart")

    # -- ESP with the tester -------------------------------------------------------------------

    def esp_tester(self, nat_t: bool = False) -> str:
        addresses = self.lab.topology.esp_tester_nat_t if nat_t else self.lab.topology.esp_tester
        if not addresses:
            raise NotImplementedError("the lab has no tester SAs" + (" with NAT-T" if nat_t else ""))
        return addresses[0]

    def esp_link(self):
        if self._esp_link is None:
            from dmvpn.lab.render import sas_with_tester
            from dmvpn.transport.esp import EspLink
            from dmvpn.wire.esp import EspSA

            testers = set(self.lab.topology.esp_tester) | set(self.lab.topology.esp_tester_nat_t)
            outbound, inbound = {}, {}
            for sa in sas_with_tester(self.lab.topology):
                if self.info.nbma not in (sa.src, sa.dst):
                    continue
                ours = EspSA(sa.spi, "aes-gcm-128", sa.key, nat_t=(4500, 4500) if sa.nat_t else None)
                if sa.src in testers:
                    outbound[(sa.src, sa.dst)] = ours
                else:
                    inbound[sa.spi] = ours
            self._esp_link = EspLink(Interlock(self.info.allowed_prefixes), outbound, inbound, netns=self.lab.ns)
        return self._esp_link

    def set_evidence(self, link, recorder) -> None:
        super().set_evidence(link, recorder)
        if self._esp_link is not None:
            self._esp_link.recorder = recorder

    def esp_counters(self) -> dict | None:
        """Integrity failures and replays on the DUT's SAs from the tester, and the kernel's xfrm_stat."""
        testers = set(self.lab.topology.esp_tester) | set(self.lab.topology.esp_tester_nat_t)
        try:
            states = [s for s in self.lab.xfrm_states(self.node) if s.src in testers and s.dst == self.info.nbma]
            stat = self.lab.exec(self.node, ["cat", "/proc/net/xfrm_stat"], timeout=10).stdout
        except Exception:
            return None
        counters = {
            "integrity_failed": sum(s.stats.get("failed", 0) for s in states),
            "replay": sum(s.stats.get("replay", 0) for s in states),
            "packets": sum(s.packets for s in states),
        }
        for line in stat.splitlines():
            name, _, value = line.partition(" ")
            if value.strip().isdigit() and int(value) > 0:
                counters[name] = int(value)
        return counters

    def close(self) -> None:
        if self._esp_link is not None:
            self._esp_link.close()
        if self.owns_lab:
            self.lab.down()


def boot_lab_duts(topology: Topology | None = None, progress=print) -> DutSet:
    """Boot the conformance lab and offer its DUTs: the hub (role hub)."""
    lab = Lab(topology or conformance_topology(), progress=progress)
    lab.up()
    try:
        return DutSet({"hub": LabDut(lab, owns_lab=False)}, close=lab.down)
    except BaseException:
        lab.down()
        raise
