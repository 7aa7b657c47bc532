"""The embedded lab as DUT: FRR nhrpd hub (and spokes) in user-mode Linux guests."""

from __future__ import annotations

import re
import time

from dmvpn.lab import Lab, LabError, NodeOptions, Topology
from dmvpn.lab.implementations import DEFAULT as DEFAULT_IMPLEMENTATION
from dmvpn.lab.implementations import get as get_implementation
from dmvpn.lab.mgmt import parse_shortcuts
from dmvpn.lab.topology import TESTER_EXTRA_NETS, TESTER_NBMA, TESTER_POOL, TESTER_TUNNEL
from dmvpn.transport import GreSocket, Interlock

from . import Dut, DutInfo, DutSet, HealthState, address_pool
from .capability import Capability

LAB_PREFIXES = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")

#: the daemons a lab DUT needs, and how their pids are read (one cheap exec, no vtysh)
_PIDS = ('for d in zebra nhrpd; do p=; read p < /run/frr/$d.pid 2>/dev/null; '
         'if [ -n "$p" ] && [ -e /proc/$p/exe ]; then echo "$d $p"; else echo "$d -"; fi; done')


class LabNodeMixin:
    """What the lab's DUTs (hub and spoke) share: health, logs and state resets on their node."""

    lab: Lab
    node: str

    def health(self) -> tuple[bool, str]:
        state = self.health_state()
        return state.alive, state.why

    def health_state(self) -> HealthState:
        """Guest running and zebra and nhrpd alive, from their pid files (answering is the probe's job)."""
        guest = self.lab.guest(self.node)
        if not guest.alive():
            return HealthState(False, "guest down")
        try:
            out = guest.exec(_PIDS, timeout=10).stdout
        except Exception as exc:
            return HealthState(False, f"command channel: {type(exc).__name__}: {exc}")
        pids = dict(line.split() for line in out.splitlines() if len(line.split()) == 2)
        missing = sorted(d for d in ("zebra", "nhrpd") if not pids.get(d, "-").isdigit())
        if missing:
            return HealthState(False, f"{', '.join(missing)} not running")
        return HealthState(True, "ok", (self.ref.generation, pids["zebra"], pids["nhrpd"]))

    def _log_path(self):
        return self.lab.run_dir / self.node / "nhrpd.log"

    def log(self) -> str:
        return self.lab.logs(self.node)

    def log_mark(self) -> int:
        path = self._log_path()
        return path.stat().st_size if path.exists() else 0

    def log_since(self, mark: int) -> str:
        path = self._log_path()
        if not path.exists():
            return ""
        with open(path, "rb") as f:
            if f.seek(0, 2) < mark:
                mark = 0  # a new log (the lab was rebooted since the mark)
            f.seek(mark)
            return f.read().decode(errors="replace")

    def _vtysh(self, *commands: str) -> str:
        argv = ["vtysh", "-d", "nhrpd"]
        for command in commands:
            argv += ["-c", command]
        result = self.lab.exec(self.node, argv, timeout=15)
        result.check(f"vtysh on {self.node}")
        return result.stdout

    def recover(self, force: bool = False) -> str:
        """A DUT that went down (a crashed nhrpd), or any with `force`: reboot the lab, so the next
        case meets a clean DUT (a restarted nhrpd alone was seen to crash again on valid packets)."""
        if not force and self.health_state().alive:
            return ""
        return self.ref.reboot()


def frr_version(lab: Lab, node: str) -> str:
    """"8.4.4" from `show version`, or "" when it cannot be read."""
    text = lab.vtysh(node, "show version")
    match = re.search(r"FRRouting (\d+(?:\.\d+)+)", text)
    return match.group(1) if match else ""


#: implementation features the lab configures on every guest, so a lab DUT offers them as they are
_LAB_CONFIGURED = frozenset({"redirect", "nat", "shortcut"})


def lab_capabilities(lab: Lab) -> set[str]:
    """What the lab DUT can be tested for: what its implementation declares (dmvpn.lab.implementations)
    and the lab configured. Authentication needs both `ip nhrp authentication` (FRR 10.2+) and a
    password in the topology. No probe on the DUT: `no ip nhrp authentication X` on FRR 10.3 wipes
    whatever password is configured."""
    impl = get_implementation(lab.topology.implementation)
    capabilities = set(_LAB_CONFIGURED & impl.features)
    if impl.has("authentication") and lab.topology.nhrp_password is not None:
        capabilities.add("authentication")
    return capabilities


def lab_password(lab: Lab) -> bytes | None:
    """The password the DUT was configured with (what the tester must send), or None."""
    topo = lab.topology
    if topo.nhrp_password is None or not get_implementation(topo.implementation).has("authentication"):
        return None
    return topo.nhrp_password.encode()


def checked_version(lab: Lab, node: str) -> str:
    """`show version`'s FRR version; LabError when it is not the implementation the lab was asked for."""
    version = frr_version(lab, node)
    impl = get_implementation(lab.topology.implementation)
    if version and not (version == impl.frr_version or version.startswith(impl.frr_version + ".")):
        raise LabError(f"{node} runs FRR {version}, not {impl.name} ({impl.frr_version})")
    return version


#: tester addresses with manual ESP SAs to every guest (plain ESP, and NAT-T); kept out of the pools
ESP_TESTER, ESP_TESTER_NAT_T = "192.0.2.250", "198.51.100.250"


#: spoke3's holding time: short, so that it refreshes (at a third of it) within a case
SPOKE_DUT_HOLDTIME = 15


#: the password of conformance labs whose implementation has `ip nhrp authentication`
CONFORMANCE_PASSWORD = "DMVPN"


def conformance_topology(implementation: str = DEFAULT_IMPLEMENTATION) -> Topology:
    """Hub + 2 FRR spokes registered to it, and spoke3 whose NHS is the tester (the DUT-NHC);
    ESP SAs between the guests and two tester addresses for the ESP cases. An implementation with
    authentication gets a password on every guest (the authentication cases then apply)."""
    impl = get_implementation(implementation)
    return Topology(
        hubs=1, spokes=3, options={"spoke3": NodeOptions(nhs_is_tester=True, holdtime=SPOKE_DUT_HOLDTIME)},
        esp_tester=(ESP_TESTER,), esp_tester_nat_t=(ESP_TESTER_NAT_T,), implementation=impl.name,
        nhrp_password=CONFORMANCE_PASSWORD if impl.has("authentication") else None,
    )


class LabRef:
    """The lab its DUTs share. After a crash, `reboot()` replaces it with a freshly booted one:
    a restarted daemon alone was seen to crash again on valid packets (FRR 8.4 nhrpd), so only a
    clean boot gives the next case a DUT in a known state."""

    def __init__(self, lab: Lab, progress=None) -> None:
        self.lab = lab
        self.progress = progress or (lambda message: None)
        self.generation = 0
        self.on_reboot: list = []

    def reboot(self) -> str:
        topology = self.lab.topology
        self.lab.down()
        lab = Lab(topology, progress=self.progress)
        lab.up()
        self.lab = lab
        self.generation += 1
        for hook in self.on_reboot:
            hook()
        return f"rebooted the lab ({lab.boot_seconds:.1f} s) for the next case"


def _ref(lab: "Lab | LabRef") -> LabRef:
    return lab if isinstance(lab, LabRef) else LabRef(lab)


class LabDut(LabNodeMixin, Dut):
    """The lab's hub as the DUT (role hub)."""

    def __init__(self, lab: "Lab | LabRef", node: str = "hub", owns_lab: bool = True) -> None:
        self.ref = _ref(lab)
        self.ref.on_reboot.append(self._rebooted)
        lab = self.ref.lab
        self.node = node
        self.owns_lab = owns_lab
        version = checked_version(lab, node)
        major_minor = ".".join(version.split(".")[:2]) if version else "unknown"
        capabilities = lab_capabilities(lab)
        topo = lab.topology
        esp_addresses = set(topo.esp_tester) | set(topo.esp_tester_nat_t)
        if topo.esp_tester:
            capabilities |= {Capability.ESP, Capability.ANTI_REPLAY}  # the lab's SAs have a 64-packet replay window
            if topo.esp_tester_nat_t:
                capabilities.add(Capability.NAT_T)
        self._esp_link = None
        self._recorder = None
        hub = lab.node(node)
        info = DutInfo(
            name=f"FRR {version or '?'} nhrpd {node} (embedded lab)",
            implementation=f"frr-{major_minor}",
            role="hub",
            nbma=str(hub.nbma),
            proto=str(hub.tunnel),
            gre_key=lab.topology.gre_key,
            holding_time=lab.topology.holdtime,
            password=lab_password(lab),
            tester_nbma=address_pool(str(TESTER_POOL), skip=esp_addresses),
            tester_proto=address_pool("10.255.0.128/25", "10.254.0.0/16"),  # FRR accepts any protocol address
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

    def reset_state(self) -> str:
        """Every binding earlier cases made goes (static, local and NHS entries stay)."""
        return self._vtysh("clear ip nhrp cache").strip()

    @property
    def lab(self) -> Lab:
        return self.ref.lab

    @property
    def generation(self) -> int:
        """Changes when the lab is rebooted: links opened before are gone with its namespace."""
        return self.ref.generation

    def wait_answering(self, timeout: float = 30.0) -> float:
        """Seconds until the hub answers the probe registration (vtysh answers a moment before
        nhrpd takes registrations): the run policy's own probe, tried every half second."""
        start = time.monotonic()
        with GreSocket(Interlock(self.info.allowed_prefixes), netns=self.lab.ns) as probe:
            while time.monotonic() - start < timeout:
                if self.answers_probe(probe, window=0.5, attempts=1):
                    return time.monotonic() - start
        raise RuntimeError(f"{self.node} does not answer registrations after {timeout:.0f} s")

    def _rebooted(self) -> None:
        if self._esp_link is not None:
            self._esp_link.close()
            self._esp_link = None  # the new guests hold fresh SAs: a new link, new sequence numbers
        self.wait_answering()

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
            self._esp_link.recorder = self._recorder  # a link opened during a case records into its pcap
        return self._esp_link

    def set_evidence(self, link, recorder) -> None:
        super().set_evidence(link, recorder)
        self._recorder = recorder
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


def tester_nhs_spoke(topology: Topology) -> str | None:
    """The first spoke whose NHS is the tester (the DUT-NHC), or None."""
    for node in topology.nodes():
        if node.role == "spoke" and node.nhs == ((TESTER_TUNNEL, TESTER_NBMA),):
            return node.name
    return None


class LabSpokeDut(LabNodeMixin, Dut):
    """The lab's spoke whose NHS is the tester, as the DUT (role spoke, DUT-NHC).

    The tester plays its NHS (TESTER_NBMA / TESTER_TUNNEL) and its peer spokes (tester pool
    addresses). Set-up on the guest: a route for PEER_LANS via the tester's tunnel address (the
    emulated peers' LANs, where shortcuts go), and a 1 s neighbour reachable time on gre1, so that
    nhrpd hears that a shortcut is in use (what its renewal needs) well within a short test holding
    time, as it does within a production one (7200 s against the kernel's default 30 s).
    """

    PEER_LANS = "10.200.0.0/16"

    def __init__(self, lab: "Lab | LabRef", node: str | None = None) -> None:
        self.ref = _ref(lab)
        lab = self.ref.lab
        self.node = node or tester_nhs_spoke(lab.topology)
        if self.node is None:
            raise ValueError("the lab has no spoke whose NHS is the tester")
        spoke = lab.node(self.node)
        version = checked_version(lab, self.node)
        major_minor = ".".join(version.split(".")[:2]) if version else "unknown"
        capabilities = {Capability.NAT, Capability.CACHE, Capability.TRIGGER_REGISTRATION}
        if spoke.shortcut:
            capabilities.add(Capability.SHORTCUT)
        if spoke.lan:
            capabilities.add(Capability.SEND_DATA)
        topo = lab.topology
        skip = set(getattr(topo, "esp_tester", ())) | set(getattr(topo, "esp_tester_nat_t", ()))
        info = DutInfo(
            name=f"FRR {version or '?'} nhrpd {self.node}, NHS = the tester (embedded lab)",
            implementation=f"frr-{major_minor}",
            role="spoke",
            nbma=spoke.nbma,
            proto=spoke.tunnel,
            gre_key=topo.gre_key,
            holding_time=spoke.holdtime,
            password=lab_password(lab),
            tester_nbma=address_pool(str(TESTER_POOL), skip=skip),
            tester_proto=address_pool("10.255.0.128/25", "10.254.0.0/16"),  # FRR accepts any protocol address
            nat_nbma=address_pool(*(str(n) for n in TESTER_EXTRA_NETS), skip=skip),
            capabilities=frozenset(capabilities),
            allowed_prefixes=LAB_PREFIXES,
            extra={
                "nhs_nbma": TESTER_NBMA,
                "nhs_proto": TESTER_TUNNEL,
                "lan": spoke.lan,
                "peer_lans": self.PEER_LANS,
                "retry_window": 8.0,  # FRR retransmits after 1 s, then 2 s, 4 s, ... (resolutions: 1, 2, 4, 7 s)
                "shortcut_holding_time": 4,  # NHC-07: a shortcut that expires within the case
                # P3-10: FRR renews a shortcut at 2/3 of its holding time once the kernel reports the
                # neighbour in use (every 2-3 s with the 1 s reachable time): leave it a 4 s window
                "renewal_holding_time": 12,
            },
        )
        super().__init__(info)
        self._link: GreSocket | None = None
        self._prepare()
        self.ref.on_reboot.append(self._prepare)  # a rebooted guest needs its set-up again

    @property
    def lab(self) -> Lab:
        return self.ref.lab

    @property
    def generation(self) -> int:
        return self.ref.generation

    def _prepare(self) -> None:
        gre = "net.ipv4.neigh.gre1"
        script = (f"ip route replace {self.PEER_LANS} via {TESTER_TUNNEL} dev gre1 onlink && "
                  f"sysctl -q -w {gre}.base_reachable_time_ms=1000 {gre}.delay_first_probe_time=1")
        self.lab.exec(self.node, script, timeout=30).check(f"preparing {self.node}")

    def open_link(self) -> GreSocket:
        self._link = GreSocket(Interlock(self.info.allowed_prefixes), netns=self.lab.ns)
        return self._link

    # -- management ----------------------------------------------------------------------------

    def cache(self) -> list[dict]:
        return [
            {"proto": e.protocol, "nbma": e.nbma, "claimed_nbma": e.claimed_nbma, "type": e.type}
            for e in self.lab.nhrp_cache(self.node)
        ]

    def shortcuts(self) -> list[dict]:
        text = self.lab.vtysh(self.node, "show ip nhrp shortcut json")
        nbma = {e.protocol: e.nbma for e in self.lab.nhrp_cache(self.node)}
        return [
            {"prefix": s.prefix, "type": s.type, "via": s.via, "nbma": nbma.get(s.via, "")}
            for s in parse_shortcuts(text)
        ]

    def trigger_registration(self) -> None:
        """Remove and re-add the spoke's nhs lines: a new NHS object registers at once."""
        lines = [f"ip nhrp nhs {tunnel} nbma {nbma}" for tunnel, nbma in self.lab.node(self.node).nhs]

        def configure(*commands: str) -> None:
            argv = ["vtysh", "-c", "configure terminal", "-c", "interface gre1"]
            for command in commands:
                argv += ["-c", command]
            self.lab.exec(self.node, argv, timeout=15).check(f"vtysh on {self.node}")

        configure(*(f"no {line}" for line in lines))
        if self._link is not None:
            # What the old NHS object sent is not the fresh registration the caller waits for.
            time.sleep(0.1)
            while self._link.recv(0) is not None:
                pass
        configure(*lines)

    def send_data(self, dst: str, count: int = 3) -> None:
        src = self.lab.node(self.node).lan_address
        argv = ["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "0.2", "-I", src, dst]
        self.lab.exec(self.node, argv, timeout=10 + count)  # no echo replies come back: rc is 1

    def reset_state(self) -> str:
        """Shortcuts and cached peers of earlier cases go (its NHS entry stays)."""
        return " / ".join(self._vtysh("clear ip nhrp cache", "clear ip nhrp shortcut").split())

    def close(self) -> None:
        pass  # the lab belongs to the DutSet


def boot_lab_duts(topology: Topology | None = None, progress=print) -> DutSet:
    """Boot the conformance lab and offer its DUTs: the hub (role hub) and, when the topology has
    a spoke whose NHS is the tester, that spoke (role spoke)."""
    lab = Lab(topology or conformance_topology(), progress=progress)
    lab.up()
    ref = LabRef(lab, progress)
    try:
        hub = LabDut(ref, owns_lab=False)
        hub.wait_answering()  # ready means answering registrations, not only vtysh
        duts: dict[str, Dut] = {"hub": hub}
        if tester_nhs_spoke(lab.topology) is not None:
            try:
                duts["spoke"] = LabSpokeDut(ref)
            except Exception as exc:  # the hub's cases can still run; the spoke's become not applicable
                progress(f"no spoke DUT: {type(exc).__name__}: {exc}")
        return DutSet(duts, close=lambda: ref.lab.down())
    except BaseException:
        lab.down()
        raise
