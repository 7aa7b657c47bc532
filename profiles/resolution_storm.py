"""Resolution storm: N fake spokes send NHRP Resolution Requests (type 1) to the hub for each other.

TRex console:  start -f profiles/resolution_storm.py -t spokes=200,targets=3,rate=1000
dmvpn (local): LocalEngine(...).run("profiles/resolution_storm.py", {"spokes": 200, "targets": 3})

Spoke i asks for spoke (i + j) % N, j = 1..targets: for the peer's tunnel address (`target=tunnel`,
Phase 2: the next hop) or for host 1 of the peer's LAN (`target=lan`, Phase 3: what a spoke
resolves after a redirect). Requests come from dmvpn.wire.templates.resolution_request (flags
Q|A|S|NAT, one CIE, Responder/Forward/Reverse extensions), outer source = the spoke's NBMA, outer
destination = the hub's NBMA. The spokes are expected to be registered already (run
registration_storm first).

Like registration_storm, the precomputed packets (NHRP checksum per packet) are replayed by one
single-burst stream of lock-step value-list variables (chained streams beyond 65 535 packets);
packet k has request ID reqid_base + k. Order: for j in 1..targets, for each spoke i.

Tunables: spokes, targets, target (tunnel|lan), rate (<= 0: as fast as possible), reqid_base,
holding_time, hopcnt, password, ttl, and the common ones (gre_key, hub_nbma, hub_tunnel,
nbma_pools, tunnel_net, src_mac, dst_mac). `direction` is ignored.
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
    lockstep_streams,
    optional_text,
    parse_tunables,
    pps_or_max,
)
from dmvpn.wire import templates as T  # noqa: E402

TUNABLES = dict(
    common_tunables(),
    spokes=Tunable(100, integer, "number of fake spokes (>= 2)"),
    targets=Tunable(1, integer, "peers each spoke resolves (spoke i asks for i+1 .. i+targets)"),
    target=Tunable("tunnel", str, "what is resolved: 'tunnel' (peer tunnel address) or 'lan' (host 1 of the peer LAN)"),
    rate=Tunable(1000.0, float, "requests per second for the whole storm (<= 0: line rate)"),
    reqid_base=Tunable(1, integer, "request ID of packet 0; packet k has reqid_base + k"),
    holding_time=Tunable(7200, integer, "CIE holding time, seconds"),
    hopcnt=Tunable(255, integer, "NHRP hop count"),
    password=Tunable(None, optional_text, "Cisco plaintext authentication extension password"),
    ttl=Tunable(64, integer, "outer IPv4 TTL"),
)


def resolution_frames(t):
    """Every frame of the storm, in sending order."""
    plan = AddressPlan.from_tunables(t)
    plan.require(t.spokes)
    if t.spokes < 2:
        raise ValueError("a resolution storm needs at least 2 spokes")
    if not 1 <= t.targets < t.spokes:
        raise ValueError(f"targets must be 1..spokes-1, got {t.targets}")
    if t.target not in ("tunnel", "lan"):
        raise ValueError(f"target must be 'tunnel' or 'lan', not {t.target!r}")
    eth = ethernet(t.dst_mac, t.src_mac)
    templates = [
        T.resolution_request(
            outer_src=plan.spoke_nbma(i),
            outer_dst=plan.hub_nbma,
            src_proto=plan.spoke_tunnel(i),
            dst_proto=plan.hub_tunnel,  # replaced per packet below
            gre_key=gre_key_or_none(t.gre_key),
            hopcnt=t.hopcnt,
            holding_time=t.holding_time,
            password=t.password,
            ttl=t.ttl,
        )
        for i in range(t.spokes)
    ]
    frames = []
    k = 0
    for j in range(1, t.targets + 1):
        for i in range(t.spokes):
            peer = (i + j) % t.spokes
            dst = plan.spoke_tunnel(peer) if t.target == "tunnel" else plan.lan_host(peer, 1)
            frames.append(eth + templates[i].build(dst_proto=dst, reqid=(t.reqid_base + k) & 0xFFFFFFFF))
            k += 1
    return frames


class ResolutionStorm:
    def get_streams(self, direction=0, tunables=None, **kwargs):
        t = parse_tunables(TUNABLES, tunables, kwargs, prog="resolution_storm")
        return lockstep_streams(stl, resolution_frames(t), pps=pps_or_max(t.rate), name="res")


def register():
    return ResolutionStorm()
