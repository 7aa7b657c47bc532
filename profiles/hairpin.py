"""Hairpin traffic that makes a Phase 3 hub send redirects (NHRP Traffic Indications).

TRex console:  start -f profiles/hairpin.py -t pairs=8,count=80,rate=20
dmvpn (local): LocalEngine(...).run("profiles/hairpin.py", {"pairs": 8, "count": 80})

Pair p is spoke A = 2p and spoke B = 2p+1. Each packet is GRE (protocol 0x0800, the GRE key) from
spoke A's NBMA to the hub's NBMA carrying an IPv4/UDP packet from A's LAN (10.1NN.0.x, x = 10 + flow)
to host 10 of B's LAN: the hub must forward it back into the same DMVPN towards B, and with
`ip nhrp redirect` (FRR: `ip nhrp redirect` + the NFLOG hairpin rule) answer A with a Traffic
Indication naming the inner destination. Hubs rate-limit those per (source, destination) (opennhrp:
4 tokens, one per 5 s), hence the low default rate and several pairs/flows instead of speed.

Frames are precomputed per (pair, flow) and replayed in lock step by one stream
(profile_kit.lockstep_streams): order pair 0 flow 0, pair 0 flow 1, ..., pair 1 flow 0, ...
`count` > 0: a single burst of `count` packets cycling through them; 0: continuous until stopped
(TRex `-d`; the local engine always bounds it).

Tunables: pairs, flows (inner sources per pair), size (inner IPv4 bytes, 28-1400), count, rate,
ttl, and the common ones (gre_key, hub_nbma, hub_tunnel, nbma_pools, tunnel_net, src_mac,
dst_mac). `direction` 1 sends from B to A instead.
"""

# ruff: noqa: F405  (TRex profiles take their API from `from trex_stl_lib.api import *`)

import os
import sys

try:
    import dmvpn  # noqa: F401
except ImportError:  # loaded by a TRex console from a checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trex_stl_lib.api import *  # noqa: E402,F401,F403
import trex_stl_lib.api as stl  # noqa: E402

from dmvpn.engines.profile_kit import (  # noqa: E402
    AddressPlan,
    Tunable,
    common_tunables,
    ethernet,
    gre_key_or_none,
    integer,
    ipv4_udp,
    lockstep_streams,
    parse_tunables,
    pps_or_max,
)
from dmvpn.wire.constants import GRE_PROTO_IPV4  # noqa: E402
from dmvpn.wire.templates import encode_ipv4_gre  # noqa: E402

TUNABLES = dict(
    common_tunables(),
    pairs=Tunable(4, integer, "spoke pairs (A=2p sends to B=2p+1 through the hub)"),
    flows=Tunable(1, integer, "inner sources per pair (A's LAN hosts 10, 11, ...)"),
    size=Tunable(100, integer, "inner IPv4 packet size, bytes (28-1400)"),
    count=Tunable(0, integer, "packets in total (0: continuous)"),
    rate=Tunable(10.0, float, "packets per second in total (<= 0: line rate)"),
    ttl=Tunable(64, integer, "outer IPv4 TTL"),
)


def hairpin_frames(t, direction=0):
    """One frame per (pair, flow), in sending order."""
    plan = AddressPlan.from_tunables(t)
    plan.require(2 * t.pairs)
    if not 1 <= t.flows <= 244:
        raise ValueError(f"flows must be 1-244, got {t.flows}")
    if not 28 <= t.size <= 1400:
        raise ValueError(f"size must be 28-1400 (tunnel MTU), got {t.size}")
    eth = ethernet(t.dst_mac, t.src_mac)
    frames = []
    for p in range(t.pairs):
        a, b = (2 * p, 2 * p + 1) if direction == 0 else (2 * p + 1, 2 * p)
        for f in range(t.flows):
            inner = ipv4_udp(plan.lan_host(a, 10 + f), plan.lan_host(b, 10), t.size, sport=1024 + f)
            outer = encode_ipv4_gre(
                inner, src=plan.spoke_nbma(a), dst=plan.hub_nbma, key=gre_key_or_none(t.gre_key),
                proto=GRE_PROTO_IPV4, ttl=t.ttl,
            )  # fmt: skip
            frames.append(eth + outer)
    return frames


class Hairpin:
    def get_streams(self, direction=0, tunables=None, **kwargs):
        t = parse_tunables(TUNABLES, tunables, kwargs, prog="hairpin")
        frames = hairpin_frames(t, direction)
        if t.count < 0:
            raise ValueError("count must be >= 0")
        if t.count:
            return lockstep_streams(stl, frames, pps=pps_or_max(t.rate), name="hairpin", total=t.count)
        return lockstep_streams(stl, frames, pps=pps_or_max(t.rate), name="hairpin", continuous=True)


def register():
    return Hairpin()
