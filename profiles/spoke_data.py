"""Spoke-to-spoke data: GRE-encapsulated IPv4 from spoke A's LAN to spoke B's LAN, via the hub and direct.

TRex console:  start -f profiles/spoke_data.py -d 30 -t size=imix,path=both,rate=100000
dmvpn (local): LocalEngine(...).run("profiles/spoke_data.py", {"size": "imix", "count": 1000})

Each packet: outer IPv4 from A's NBMA to the hub's NBMA (path `hub`: the Phase 1/2 path, or before
a shortcut exists) or to B's NBMA (path `direct`: after the shortcut), GRE protocol 0x0800 with the
GRE key, then an inner IPv4/UDP packet from A's LAN to host 10 of B's LAN. Sizes are inner IPv4
sizes (what a LAN hands the tunnel): `64`, `1400` (the DMVPN tunnel MTU), any 28-1400, or `imix`
= 64/576/1400 at 7:4:1 (simple IMIX with 1500 replaced by the tunnel MTU), one stream per size and
path, the rate shared by weight.

Field engine (only IPv4 header checksums are involved, so TRex varies these per packet):
  inner source  inc over hosts 1..flows of A's LAN    STLVmFlowVar + STLVmWrFlowVar + STLVmFixIpv4(inner)
  inner UDP sport random 1024-65535                   (UDP checksum is 0: allowed over IPv4)
  outer IPv4 ID  inc 0..0xFBFF                        + STLVmFixIpv4(outer)  (TRex reserves IDs above
                                                       0xFBFF for flow stats, trex-core #1186)

Tunables: size, path (hub|direct|both), spoke_a, spoke_b, flows, count (packets per stream; 0:
continuous), rate (pps, all streams together), pg_id (>= 0: STLFlowStats ids pg_id, pg_id+1, ...),
ttl, and the common ones (gre_key, hub_nbma, hub_tunnel, nbma_pools, tunnel_net, src_mac,
dst_mac). `direction` 1 swaps A and B.
"""

# ruff: noqa: F405  (TRex profiles take their API from `from trex_stl_lib.api import *`)

import os
import sys

try:
    import dmvpn  # noqa: F401
except ImportError:  # loaded by a TRex console from a checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trex_stl_lib.api import *  # noqa: E402,F401,F403

from dmvpn.engines.profile_kit import (  # noqa: E402
    ETH_HEADER_LEN,
    AddressPlan,
    Tunable,
    common_tunables,
    ethernet,
    gre_key_or_none,
    inner_sizes,
    integer,
    ipv4_udp,
    parse_tunables,
    pps_or_max,
    split_rate,
)
from dmvpn.wire.constants import GRE_PROTO_IPV4  # noqa: E402
from dmvpn.wire.templates import encode_ipv4_gre  # noqa: E402

TUNABLES = dict(
    common_tunables(),
    size=Tunable("imix", str, "inner IPv4 size: 64, 1400, imix (64/576/1400 7:4:1) or 28-1400"),
    path=Tunable("both", str, "hub (outer destination = hub NBMA), direct (= spoke B NBMA) or both"),
    spoke_a=Tunable(0, integer, "sending spoke"),
    spoke_b=Tunable(1, integer, "receiving spoke"),
    flows=Tunable(254, integer, "inner source hosts of A's LAN, 1..flows (1-254)"),
    count=Tunable(0, integer, "packets per stream (0: continuous)"),
    rate=Tunable(10000.0, float, "packets per second, all streams together (<= 0: line rate)"),
    pg_id=Tunable(-1, integer, "first STLFlowStats packet-group id (-1: no flow stats)"),
    ttl=Tunable(64, integer, "outer IPv4 TTL"),
)

OUTER_IP = ETH_HEADER_LEN


def paths_of(path):
    if path == "both":
        return ["hub", "direct"]
    if path in ("hub", "direct"):
        return [path]
    raise ValueError(f"path must be hub, direct or both, not {path!r}")


def data_frame(t, plan, path, size, a, b):
    """(frame, inner IPv4 offset) before the field engine: inner source host 1, sport 1024, IP ID 0."""
    inner = ipv4_udp(plan.lan_host(a, 1), plan.lan_host(b, 10), size, sport=1024)
    dst = plan.hub_nbma if path == "hub" else plan.spoke_nbma(b)
    key = gre_key_or_none(t.gre_key)
    outer = encode_ipv4_gre(inner, src=plan.spoke_nbma(a), dst=dst, key=key, proto=GRE_PROTO_IPV4, ttl=t.ttl, ip_id=0)
    inner_off = ETH_HEADER_LEN + len(outer) - len(inner)
    return ethernet(t.dst_mac, t.src_mac) + outer, inner_off


class SpokeData:
    def get_streams(self, direction=0, tunables=None, **kwargs):
        t = parse_tunables(TUNABLES, tunables, kwargs, prog="spoke_data")
        plan = AddressPlan.from_tunables(t)
        a, b = (t.spoke_a, t.spoke_b) if direction == 0 else (t.spoke_b, t.spoke_a)
        plan.require(max(a, b) + 1)
        if a == b:
            raise ValueError("spoke_a and spoke_b must differ")
        if not 1 <= t.flows <= 254:
            raise ValueError(f"flows must be 1-254, got {t.flows}")
        if t.count < 0:
            raise ValueError("count must be >= 0")
        paths = paths_of(t.path)
        sizes = inner_sizes(t.size)
        rates = split_rate(pps_or_max(t.rate), [w for _, w in sizes] * len(paths))
        streams = []
        for path in paths:
            for size, _weight in sizes:
                frame, inner_ip = data_frame(t, plan, path, size, a, b)
                vm = STLScVmRaw(
                    [
                        STLVmFlowVar(name="src", min_value=plan.lan_host(a, 1), max_value=plan.lan_host(a, t.flows), size=4, op="inc"),
                        STLVmFlowVar(name="sport", min_value=1024, max_value=65535, size=2, op="random"),
                        STLVmFlowVar(name="ipid", min_value=0, max_value=0xFBFF, size=2, op="inc"),
                        STLVmWrFlowVar(fv_name="src", pkt_offset=inner_ip + 12),
                        STLVmWrFlowVar(fv_name="sport", pkt_offset=inner_ip + 20),
                        STLVmWrFlowVar(fv_name="ipid", pkt_offset=OUTER_IP + 4),
                        STLVmFixIpv4(offset=inner_ip),
                        STLVmFixIpv4(offset=OUTER_IP),
                    ]
                )
                index = len(streams)
                pps = rates[index]
                mode = STLTXSingleBurst(total_pkts=t.count, pps=pps) if t.count else STLTXCont(pps=pps)
                streams.append(
                    STLStream(
                        name=f"{path}_{size}",
                        packet=STLPktBuilder(pkt_buffer=frame, vm=vm),
                        mode=mode,
                        flow_stats=STLFlowStats(pg_id=t.pg_id + index) if t.pg_id >= 0 else None,
                    )
                )
        return streams


def register():
    return SpokeData()
