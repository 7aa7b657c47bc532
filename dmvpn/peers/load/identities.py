"""Emulated spoke identities: outer (post-NAT) NBMA, claimed NBMA and tunnel address per spoke.

NBMA addresses come from the documentation ranges the lab routes to the tester (192.0.2.128/25,
198.51.100.0/24, 203.0.113.0/24: 635 usable addresses). Up to that many spokes each get their own
NBMA address; beyond it (or always, with `nat="always"`) spokes share them behind an emulated NAT,
each claiming its own private NBMA address in the NHRP header (10.64.0.0/10). Tunnel addresses come
from 10.128.0.0/9. See dmvpn.peers.load for the whole picture.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass

LAB_PREFIXES = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")

#: NBMA addresses an emulated spoke may use: what the lab routes to the tester (and the bench
#: namespaces route the same way). 192.0.2.255 is left out (the /24's broadcast for the hub).
DEFAULT_NBMA_POOL: tuple[str, ...] = tuple(
    [str(a) for a in ipaddress.IPv4Network("192.0.2.128/25") if str(a) != "192.0.2.255"]
    + [str(a) for a in ipaddress.IPv4Network("198.51.100.0/24").hosts()]
    + [str(a) for a in ipaddress.IPv4Network("203.0.113.0/24").hosts()]
)
DEFAULT_TUNNEL_NET = "10.128.0.0/9"
DEFAULT_CLAIMED_NET = "10.64.0.0/10"


@dataclass(frozen=True)
class Identities:
    """N emulated spokes: outer (post-NAT) NBMA, claimed NBMA and tunnel address, as 4-byte strings."""

    outer: tuple[bytes, ...]
    claimed: tuple[bytes, ...]
    proto: tuple[bytes, ...]

    def __len__(self) -> int:
        return len(self.proto)

    @property
    def natted(self) -> int:
        """How many spokes claim an NBMA address other than the one their packets come from."""
        return sum(o != c for o, c in zip(self.outer, self.claimed))

    @property
    def nbma_addresses(self) -> int:
        return len(set(self.outer))

    def text(self, i: int) -> tuple[str, str, str]:
        return socket.inet_ntoa(self.outer[i]), socket.inet_ntoa(self.claimed[i]), socket.inet_ntoa(self.proto[i])

    @classmethod
    def plan(
        cls,
        n: int,
        *,
        nbma_pool: Sequence[str] = DEFAULT_NBMA_POOL,
        tunnel_net: str = DEFAULT_TUNNEL_NET,
        claimed_net: str = DEFAULT_CLAIMED_NET,
        nat: str = "auto",
        offset: int = 0,
    ) -> Identities:
        """n spokes; nat "auto" (NAT only when n exceeds the pool), "always" or "never" (n <= pool).

        Spoke i has tunnel address tunnel_net[1 + offset + i]; its packets come from
        nbma_pool[i % len(pool)]; behind NAT it claims claimed_net[1 + offset + i].
        """
        if n < 1:
            raise ValueError("at least one spoke")
        pool = [socket.inet_aton(a) for a in nbma_pool]
        if not pool:
            raise ValueError("empty NBMA pool")
        natted = {"auto": n > len(pool), "always": True, "never": False}[nat]
        if not natted and n > len(pool):
            raise ValueError(f"{n} spokes without NAT need {n} NBMA addresses; the pool has {len(pool)}")
        tnet = ipaddress.IPv4Network(tunnel_net)
        cnet = ipaddress.IPv4Network(claimed_net)
        if offset + n + 1 >= tnet.num_addresses or (natted and offset + n + 1 >= cnet.num_addresses):
            raise ValueError(f"{n} spokes at offset {offset} do not fit {tunnel_net} / {claimed_net}")
        tbase, cbase = int(tnet.network_address), int(cnet.network_address)
        outer = tuple(pool[i % len(pool)] for i in range(n))
        proto = tuple((tbase + 1 + offset + i).to_bytes(4, "big") for i in range(n))
        claimed = tuple((cbase + 1 + offset + i).to_bytes(4, "big") for i in range(n)) if natted else outer
        return cls(outer, claimed, proto)
