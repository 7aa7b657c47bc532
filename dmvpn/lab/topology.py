"""A lab as data: which guests, their addresses, and how their NHRP is configured.

Addressing (documentation ranges only for NBMA, all inside the lab's own namespace):

=====================  ==========================================================
NBMA LAN (the bridge)   192.0.2.0/24: hub1 .1, hub2 .2, ...; spoke N .(10+N)
tester                  192.0.2.100 (primary), pool 192.0.2.128/25 (emulated spokes),
                        198.51.100.0/24 and 203.0.113.0/24 (NAT-like cases); the pool
                        and the two extra nets are "local" routes on the bridge, so any
                        address in them can send and receive without being added.
overlay (tunnel)        10.255.0.0/24: hub N 10.255.0.N/32, spoke N 10.255.0.(10+N)/32,
                        the tester (when it plays the NHS) 10.255.0.100
spoke LANs              spoke N: 10.(100+N).0.0/24, address 10.(100+N).0.1 on ``lan0``
=====================  ==========================================================

The hub's tunnel address must be a /32: FRR 8.4 treats a non-host prefix as no address at all.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace

NBMA_NET = ipaddress.IPv4Network("192.0.2.0/24")
TESTER_NBMA = "192.0.2.100"
TESTER_POOL = ipaddress.IPv4Network("192.0.2.128/25")
TESTER_EXTRA_NETS = (ipaddress.IPv4Network("198.51.100.0/24"), ipaddress.IPv4Network("203.0.113.0/24"))
TUNNEL_NET = ipaddress.IPv4Network("10.255.0.0/24")
TESTER_TUNNEL = "10.255.0.100"
MAX_HUBS = 9
MAX_SPOKES = 88  # 192.0.2.11 .. 192.0.2.99, below the tester's .100

#: Kernel-side NFLOG group nhrpd listens on for redirects (Traffic Indications).
NFLOG_GROUP = 1
ESP_AEAD = "rfc4106(gcm(aes))"


@dataclass(frozen=True)
class NodeOptions:
    """Per-node overrides; unset fields take the topology's value."""

    unique: bool | None = None  #: spokes: unique registration (U flag) instead of no-unique
    nhs_is_tester: bool = False  #: spokes: register with the tester (192.0.2.100) instead of the hubs
    holdtime: int | None = None
    redirect: bool | None = None
    shortcut: bool | None = None
    frr_lines: tuple[str, ...] = ()  #: appended verbatim to nhrpd.conf (give "interface gre1" yourself)
    zebra_lines: tuple[str, ...] = ()  #: appended verbatim to zebra.conf


@dataclass(frozen=True)
class Topology:
    """What to boot. All fields have the defaults of the usual hub + 2 spokes lab."""

    hubs: int = 1
    spokes: int = 2
    gre_key: int | None = 42
    network_id: int = 1
    holdtime: int = 600
    redirect: bool = True  #: ``ip nhrp redirect`` (+ the NFLOG rule) on hubs
    shortcut: bool = True  #: ``ip nhrp shortcut`` on spokes
    unique: bool = False  #: spokes register unique (default ``ip nhrp registration no-unique``)
    spoke_lans: bool = True  #: a 10.(100+N).0.0/24 LAN on ``lan0`` behind spoke N, routed via the hub
    esp: bool = False  #: manual transport-mode ESP SAs (proto gre selectors) between every guest pair
    #: tester NBMA addresses that get manual ESP SAs with every guest (transport mode, proto gre)
    esp_tester: tuple[str, ...] = ()
    #: the same, with NAT-T (ESP in UDP 4500, RFC 3948) instead of plain ESP
    esp_tester_nat_t: tuple[str, ...] = ()
    #: IKEv2 instead of manual SAs: charon in every guest (started by the guest's init), PSK,
    #: transport-mode CHILD_SAs with proto gre selectors between every guest pair (trap policies:
    #: negotiated on the first GRE packet). See :mod:`dmvpn.ike`.
    ike: bool = False
    #: tester NBMA addresses every guest's charon accepts an IKEv2 peering from (the tester
    #: initiates; see dmvpn.ike.TesterCharon)
    ike_tester: tuple[str, ...] = ()
    #: CHILD_SA mode towards ``ike_tester``: "tunnel" (what the tester's kernel-libipsec charon
    #: supports) or "transport"
    ike_tester_mode: str = "tunnel"
    ike_psk: str = "dmvpn-lab-ike-psk"
    nhrp_debug: tuple[str, ...] = ("common", "event")  #: ``debug nhrp <x>`` lines (logged to nhrpd.log)
    mem_mb: int = 256
    options: dict[str, NodeOptions] = field(default_factory=dict)  #: node name -> overrides
    #: which FRR the guests run (see dmvpn.lab.implementations): "frr-8.4" (the host's) or "frr-10.3"
    implementation: str = "frr-8.4"
    #: ``ip nhrp authentication PASSWORD`` (Cisco plaintext, at most 8 bytes) on hubs and spokes;
    #: only for an implementation that has it (FRR 10.2+)
    nhrp_password: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.hubs <= MAX_HUBS:
            raise ValueError(f"hubs must be 1..{MAX_HUBS}, not {self.hubs}")
        if not 0 <= self.spokes <= MAX_SPOKES:
            raise ValueError(f"spokes must be 0..{MAX_SPOKES}, not {self.spokes}")
        if self.gre_key is not None and not 0 <= self.gre_key < 2**32:
            raise ValueError(f"gre_key must fit in 32 bits, not {self.gre_key}")
        if not 1 <= self.holdtime <= 65000:
            raise ValueError(f"holdtime must be 1..65000 (FRR's range), not {self.holdtime}")
        if self.mem_mb < 64:
            raise ValueError("mem_mb below 64 will not boot FRR")
        if self.ike and self.esp:
            raise ValueError("ike and esp both make guest-guest SAs: choose one")
        if set(self.ike_tester) & (set(self.esp_tester) | set(self.esp_tester_nat_t)):
            raise ValueError("a tester address has either manual SAs (esp_tester) or IKE (ike_tester)")
        if self.ike_tester_mode not in ("tunnel", "transport"):
            raise ValueError(f"ike_tester_mode is tunnel or transport, not {self.ike_tester_mode!r}")
        from .implementations import get as get_implementation

        impl = get_implementation(self.implementation)  # ValueError naming the known ones
        if self.nhrp_password is not None:
            if not impl.has("authentication"):
                raise ValueError(f"{impl.name} has no ip nhrp authentication: no nhrp_password")
            if not 1 <= len(self.nhrp_password.encode()) <= 8 or not self.nhrp_password.isprintable() \
                    or " " in self.nhrp_password:
                raise ValueError("nhrp_password must be 1-8 printable bytes without blanks (Cisco's limit)")
        names = {n.name for n in self.nodes()}
        unknown = set(self.options) - names
        if unknown:
            raise ValueError(f"options for unknown nodes: {sorted(unknown)} (nodes: {sorted(names)})")

    def with_options(self, name: str, **kw) -> Topology:
        """A copy with node ``name``'s options updated."""
        opts = dict(self.options)
        opts[name] = replace(opts.get(name, NodeOptions()), **kw)
        return replace(self, options=opts)

    def hub_names(self) -> list[str]:
        return ["hub"] if self.hubs == 1 else [f"hub{i}" for i in range(1, self.hubs + 1)]

    def nodes(self) -> list[Node]:
        """Every guest, hubs first, with its addresses and effective options resolved."""
        hub_names = self.hub_names()
        hubs = []
        for i, name in enumerate(hub_names, start=1):
            o = self.options.get(name, NodeOptions())
            hubs.append(Node(
                name=name, role="hub", index=i, nbma=str(NBMA_NET[i]), tunnel=str(TUNNEL_NET[i]),
                mac=f"02:00:00:00:00:{i:02x}", lan=None,
                holdtime=o.holdtime or self.holdtime,
                redirect=self.redirect if o.redirect is None else o.redirect,
                shortcut=False if o.shortcut is None else o.shortcut,
                unique=False, nhs=(), frr_lines=o.frr_lines, zebra_lines=o.zebra_lines,
            ))
        spokes = []
        for i in range(1, self.spokes + 1):
            name = f"spoke{i}"
            o = self.options.get(name, NodeOptions())
            if o.nhs_is_tester:
                nhs = ((TESTER_TUNNEL, TESTER_NBMA),)
            else:
                nhs = tuple((h.tunnel, h.nbma) for h in hubs)
            spokes.append(Node(
                name=name, role="spoke", index=i, nbma=str(NBMA_NET[10 + i]),
                tunnel=str(TUNNEL_NET[10 + i]), mac=f"02:00:00:00:01:{i:02x}",
                lan=f"10.{100 + i}.0.0/24" if self.spoke_lans else None,
                holdtime=o.holdtime or self.holdtime,
                redirect=False if o.redirect is None else o.redirect,
                shortcut=self.shortcut if o.shortcut is None else o.shortcut,
                unique=self.unique if o.unique is None else o.unique,
                nhs=nhs, frr_lines=o.frr_lines, zebra_lines=o.zebra_lines,
            ))
        return hubs + spokes

    def node(self, name: str) -> Node:
        for n in self.nodes():
            if n.name == name:
                return n
        raise KeyError(f"no node {name!r} in this topology (nodes: {[n.name for n in self.nodes()]})")


@dataclass(frozen=True)
class Node:
    """One guest with everything resolved."""

    name: str
    role: str  #: "hub" or "spoke"
    index: int
    nbma: str
    tunnel: str
    mac: str
    lan: str | None  #: the LAN prefix behind a spoke, e.g. "10.101.0.0/24"
    holdtime: int
    redirect: bool
    shortcut: bool
    unique: bool
    nhs: tuple[tuple[str, str], ...]  #: (tunnel address, NBMA address) of each NHS
    frr_lines: tuple[str, ...] = ()
    zebra_lines: tuple[str, ...] = ()

    @property
    def lan_address(self) -> str | None:
        """The spoke's own address on its LAN (first host), e.g. "10.101.0.1"."""
        return str(ipaddress.IPv4Network(self.lan)[1]) if self.lan else None

    @property
    def tap(self) -> str:
        return f"tap-{self.name}"[:15]


def topology_to_dict(topo: Topology) -> dict:
    """Plain JSON-able form (for the lab's state record)."""
    from dataclasses import asdict

    return asdict(topo)


def topology_from_dict(data: dict) -> Topology:
    data = dict(data)
    for key in ("nhrp_debug", "esp_tester", "esp_tester_nat_t", "ike_tester"):
        data[key] = tuple(data.get(key, ()))
    data["options"] = {
        name: NodeOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in opts.items()})
        for name, opts in data.get("options", {}).items()
    }
    return Topology(**data)
