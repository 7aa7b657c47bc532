"""Topology -> what each guest runs: its set-up (``guest.json``), zebra.conf and nhrpd.conf.

Pure functions: no I/O, so the rendered configuration can be checked without booting anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .implementations import get as get_implementation
from .roots import HOST_MOUNT
from .topology import ESP_AEAD, NFLOG_GROUP, TESTER_EXTRA_NETS, TESTER_NBMA, Node, Topology

FRR_DIR = "/usr/lib/frr"
VTYSH = "/usr/bin/vtysh"
NHRPD_VTY = "/run/frr/nhrpd.vty"


def nhrpd_conf(topo: Topology, node: Node, log_path: str) -> str:
    lines = [f"hostname {node.name}", f"log file {log_path} debugging", "log timestamp precision 3"]
    lines += [f"debug nhrp {d}" for d in topo.nhrp_debug]
    if node.redirect:
        lines.append(f"nhrp nflog-group {NFLOG_GROUP}")
    lines += ["!", "interface gre1",
              f" ip nhrp network-id {topo.network_id}",
              f" ip nhrp holdtime {node.holdtime}"]
    if node.redirect:
        lines.append(" ip nhrp redirect")
    for tunnel, nbma in node.nhs:
        lines.append(f" ip nhrp nhs {tunnel} nbma {nbma}")
    if node.role == "hub":
        # Several hubs know each other statically.
        for other in topo.nodes():
            if other.role == "hub" and other.name != node.name:
                lines.append(f" ip nhrp map {other.tunnel} {other.nbma}")
    if node.role == "spoke" and not node.unique:
        lines.append(" ip nhrp registration no-unique")
    if node.shortcut:
        lines.append(" ip nhrp shortcut")
    if topo.nhrp_password is not None and get_implementation(topo.implementation).has("authentication"):
        lines.append(f" ip nhrp authentication {topo.nhrp_password}")
    lines += [" tunnel source eth0", "!"]
    lines += list(node.frr_lines)
    return "\n".join(lines) + "\n"


def zebra_conf(node: Node, log_path: str) -> str:
    lines = [f"hostname {node.name}", f"log file {log_path}", "!"] + list(node.zebra_lines)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class EspSa:
    """One manual SA (one direction) between two guests, or between a guest and the tester."""

    src: str
    dst: str
    spi: int
    reqid: int
    key_hex: str  #: 20 bytes: AES-128 key + 4-byte salt, for rfc4106(gcm(aes)) with a 128-bit ICV
    nat_t: bool = False  #: ESP in UDP 4500 (RFC 3948)

    @property
    def key(self) -> bytes:
        return bytes.fromhex(self.key_hex)

    def state_cmd(self) -> str:
        encap = " encap espinudp 4500 4500 0.0.0.0" if self.nat_t else ""
        return (f"xfrm state add src {self.src} dst {self.dst} proto esp spi 0x{self.spi:08x} "
                f"reqid {self.reqid} mode transport replay-window 64 aead {ESP_AEAD} 0x{self.key_hex} 128{encap} "
                f"sel src {self.src}/32 dst {self.dst}/32 proto gre")

    def policy_cmd(self) -> str:
        return (f"xfrm policy add src {self.src}/32 dst {self.dst}/32 proto gre dir out "
                f"tmpl src {self.src} dst {self.dst} proto esp reqid {self.reqid} mode transport")


def _sa(src: str, dst: str, nat_t: bool = False) -> EspSa:
    """A deterministic SA for the ordered pair (src, dst): both ends can compute it."""
    digest = hashlib.sha256(f"dmvpn-lab esp {src} {dst}".encode()).digest()
    sa_id = int.from_bytes(digest[:3], "big") | 0x100000  # >= 256: SPIs 1-255 are reserved
    return EspSa(src, dst, spi=sa_id, reqid=sa_id & 0xFFFF, key_hex=digest[3:23].hex(), nat_t=nat_t)


def esp_sas(topo: Topology) -> list[EspSa]:
    """The deterministic SAs of a topology: every ordered guest pair when ``esp``, and each guest
    with each ``esp_tester`` / ``esp_tester_nat_t`` address, both ways."""
    sas = []
    nodes = topo.nodes()
    if topo.esp:
        sas += [_sa(a.nbma, b.nbma) for a in nodes for b in nodes if a is not b]
    for tester, nat_t in [(t, False) for t in topo.esp_tester] + [(t, True) for t in topo.esp_tester_nat_t]:
        for node in nodes:
            sas += [_sa(node.nbma, tester, nat_t), _sa(tester, node.nbma, nat_t)]
    return sas


def sas_with_tester(topo: Topology) -> list[EspSa]:
    """The SAs the tester side must hold (its ends of the guest-tester SAs)."""
    testers = set(topo.esp_tester) | set(topo.esp_tester_nat_t)
    return [sa for sa in esp_sas(topo) if sa.src in testers or sa.dst in testers]


IKE_VICI = "/run/charon.vici"  #: inside the guest (a tmpfs)


def ike_connections(topo: Topology, node: Node) -> list:
    """The node's IKEv2 peerings (:class:`dmvpn.ike.IkeConnection`): every other guest when
    ``ike``, and each ``ike_tester`` address (which initiates)."""
    from dmvpn.ike.config import IkeConnection

    conns = []
    if topo.ike:
        for other in topo.nodes():
            if other.name != node.name:
                conns.append(IkeConnection(other.name, node.nbma, other.nbma, topo.ike_psk,
                                           mode="transport", start_action="trap"))
    for i, tester in enumerate(topo.ike_tester):
        conns.append(IkeConnection(f"tester{i}", node.nbma, tester, topo.ike_psk,
                                   mode=topo.ike_tester_mode, start_action="none"))
    return conns


def ike_guest_config(topo: Topology, node: Node, node_dir: str) -> tuple[dict, dict]:
    """(the ``ike`` entry of guest.json, {path: text} of the files) for a node with peerings."""
    from dmvpn.ike.config import CHARON, SWANCTL, strongswan_conf, swanctl_conf

    conf, swanctl = f"{node_dir}/strongswan.conf", f"{node_dir}/swanctl.conf"
    files = {conf: strongswan_conf(log_path=f"{node_dir}/charon.log", vici_socket=IKE_VICI),
             swanctl: swanctl_conf(ike_connections(topo, node))}
    entry = {"env": {"STRONGSWAN_CONF": conf}, "charon": [CHARON], "vici": IKE_VICI,
             "load": [SWANCTL, "--load-all", "--noprompt", "--file", swanctl, "--uri", f"unix://{IKE_VICI}"]}
    return entry, files


def guest_config(topo: Topology, node: Node, node_dir: str) -> dict:
    """The JSON the guest's init (``guest_init.py``) executes."""
    nodes = topo.nodes()
    hubs = [n for n in nodes if n.role == "hub"]
    spokes = [n for n in nodes if n.role == "spoke"]
    modules = ["ip_gre"]
    key = f" key {topo.gre_key}" if topo.gre_key is not None else ""
    batch = [
        "link set lo up",
        "link set vec0 name eth0",
        f"addr add {node.nbma}/24 dev eth0",
        "link set eth0 up",
        f"tunnel add gre1 mode gre{key} ttl 64 dev eth0",
        f"addr add {node.tunnel}/32 dev gre1",
        "link set gre1 up",
    ]
    for net in TESTER_EXTRA_NETS:
        batch.append(f"route add {net} via {TESTER_NBMA} dev eth0")
    # No IPv6: the link-local addresses the kernel adds to gre1/eth0 a moment after boot make
    # FRR 8.4 nhrpd re-check its peers, which drops a registration that arrived just before
    # (cache entry "timeout" 10 s later, no re-registration until holdtime/3).
    sysctl = {"net/ipv6/conf/all/disable_ipv6": 1, "net/ipv6/conf/default/disable_ipv6": 1,
              "net/ipv4/ip_forward": 1,
              # a hub with thousands of spokes needs a neighbour entry for each (the default
              # table stops near 900 and the hub can then forward to no more spokes than that)
              "net/ipv4/neigh/default/gc_thresh1": 8192, "net/ipv4/neigh/default/gc_thresh2": 16384,
              "net/ipv4/neigh/default/gc_thresh3": 32768}
    commands = []
    if node.role == "hub":
        sysctl["net/ipv4/conf/all/send_redirects"] = 0
        sysctl["net/ipv4/conf/default/send_redirects"] = 0
        for s in spokes:
            if s.lan:
                batch.append(f"route add {s.lan} via {s.tunnel} dev gre1 onlink")
        for other in hubs:
            if other.name != node.name:  # reached through nhrpd's static map of that hub
                batch.append(f"route add {other.tunnel}/32 dev gre1")
    else:
        if node.lan:
            modules.append("dummy")
            batch += ["link add lan0 type dummy", f"addr add {node.lan_address}/24 dev lan0",
                      "link set lan0 up"]
        if node.nhs:
            first_nhs = node.nhs[0][0]
            batch.append(f"route add 10.255.0.0/24 via {first_nhs} dev gre1 onlink")
            for s in spokes:
                if s.lan and s.name != node.name:
                    batch.append(f"route add {s.lan} via {first_nhs} dev gre1 onlink")
    if node.redirect:
        modules += ["iptable_filter", "xt_hashlimit", "xt_NFLOG", "nfnetlink_log"]
        commands.append([
            "/usr/sbin/iptables-legacy", "-A", "FORWARD", "-i", "gre1", "-o", "gre1",
            "-m", "hashlimit", "--hashlimit-upto", "4/minute", "--hashlimit-burst", "1",
            "--hashlimit-mode", "srcip,dstip", "--hashlimit-srcmask", "24", "--hashlimit-dstmask", "24",
            "--hashlimit-name", "loglimit-0", "-j", "NFLOG", "--nflog-group", str(NFLOG_GROUP),
            "--nflog-size", "128",
        ])
    sas = esp_sas(topo)
    if sas:
        modules += ["esp4", "xfrm_user"]
        for sa in sas:
            if node.nbma in (sa.src, sa.dst):
                batch.append(sa.state_cmd())
            if node.nbma == sa.src:
                batch.append(sa.policy_cmd())
    # FRR 8.4 drops the static `ip nhrp map` entries of the startup config when nhrpd learns
    # gre1 from zebra a moment later ("Deleting peer ... local:(unspec)"): apply them again once
    # nhrpd answers.
    conf = nhrpd_conf(topo, node, f"{node_dir}/nhrpd.log")
    maps = [ln.strip() for ln in conf.splitlines() if ln.strip().startswith("ip nhrp map ")]
    post_ready = [[VTYSH, "-c", "configure terminal", "-c", "interface gre1"]
                  + [a for m in maps for a in ("-c", m)]] if maps else []
    impl = get_implementation(topo.implementation)
    zebra_path = f"{node_dir}/zebra.conf"
    nhrpd_path = f"{node_dir}/nhrpd.conf"
    files = {zebra_path: zebra_conf(node, f"{node_dir}/zebra.log"), nhrpd_path: conf}
    daemons = []
    for daemon in impl.daemons:
        if daemon in impl.no_config_file:  # mgmtd (FRR 10)
            daemons.append([f"{FRR_DIR}/{daemon}", "-d", "-A", "127.0.0.1", "--log", f"file:{node_dir}/{daemon}.log"])
        else:
            daemons.append([f"{FRR_DIR}/{daemon}", "-d", "-A", "127.0.0.1", "-f", f"{node_dir}/{daemon}.conf"])
    extra = {}
    if topo.ike or topo.ike_tester:
        modules += [m for m in ("esp4", "xfrm_user") if m not in modules]
        extra["ike"], ike_files = ike_guest_config(topo, node, node_dir)
        files.update(ike_files)
    return extra | {
        "name": node.name,
        "spool": f"{node_dir}/spool",
        "modules": modules,
        "sysctl": sysctl,
        "ip_batch": batch,
        "commands": commands,
        "etc_frr": {"vtysh.conf": "! written by dmvpn.lab\n"},
        "files": files,
        "daemons": daemons,
        "ready_socket": NHRPD_VTY,
        "ready_check": [VTYSH, "-d", "nhrpd", "-c", "show ip nhrp cache"],
        "ready_expect": f" {node.tunnel} ",  # the "local" cache entry of its own tunnel address
        "post_ready": post_ready,
        "poll_interval": 0.05,
        # the kernel decapsulates ESP in UDP only on a socket marked UDP_ENCAP_ESPINUDP (RFC 3948)
        "esp_in_udp_port": 4500 if any(sa.nat_t for sa in sas) else None,
    } | _own_root_config(impl, node_dir)


def _own_root_config(impl, node_dir: str) -> dict:
    """guest.json keys of an implementation with its own root (none for the host's own FRR)."""
    extra: dict = {}
    if impl.own_root:
        # the root has no UML modules: the guest mounts the host's (they match the host's linux.uml)
        extra["host_modules"] = "/usr/lib/uml/modules"
        extra["host_mount"] = "/" + HOST_MOUNT
    if impl.daemon_output_to_file:
        extra["daemon_output"] = f"{node_dir}/daemons.out"
    return extra
