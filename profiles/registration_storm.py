"""Registration storm: N fake spokes each send NHRP Registration Requests (type 3) to the hub.

TRex console:  start -f profiles/registration_storm.py -t spokes=1000,rate=500
dmvpn (local): LocalEngine(...).run("profiles/registration_storm.py", {"spokes": 1000, "rate": 500})

Spoke i (see dmvpn.engines.profile_kit for the address plan) has its own NBMA address (outer IPv4
source = NHRP source NBMA), tunnel address (NHRP source protocol address) and request IDs; the
destination protocol address is the hub's tunnel address, the outer destination the hub's NBMA.
Packets are Cisco-style requests from dmvpn.wire.templates.registration_request (flags U|NAT, one
CIE with prefix 32, Responder/Forward/Reverse extensions, optional auth and NAT extensions).

How it scales to 10 000 spokes: TRex's field engine cannot compute an NHRP checksum, so every
spoke's packet is precomputed (templates, both checksums right). Instead of one stream per spoke
(10 000 streams: 10 000 compiled stream objects, a 10 000-node chain or 10 000 parallel streams
each at rate/N, several MB of JSON-RPC), the whole storm is ONE single-burst stream whose field
engine replays the precomputed packets: each field that differs between spokes (outer source, IPv4
checksum, request ID, source NBMA, source protocol address, NHRP checksum: ~20 bytes) is a
value-list variable of N entries walked in lock step (profile_kit.lockstep_streams). Rate and burst
count are exact, the stream splits across TRex cores like any other, and the JSON stays a few hundred
KB. TRex caps a value list at 65 535 entries, so spokes*rounds beyond that become a chain of such
streams (one per 65 535 packets), never looped.

Order: round 0 sends spoke 0, 1, ..., N-1, then round 1 (fresh request IDs), and so on; packet k is
spoke k % N with request ID reqid_base + k.

Tunables (TRex console: `-t name=value,...`; dmvpn: a dict):
  spokes, rate (pps of the whole storm; <= 0: as fast as possible), rounds, reqid_base,
  holding_time, mtu, hopcnt, unique, password, nat_ext, ttl, and the common ones (gre_key,
  hub_nbma, hub_tunnel, nbma_pools, tunnel_net, src_mac, dst_mac). `direction` is ignored.
"""

# ruff: noqa: F405  (TRex profiles take their API from `from trex_stl_lib.api import *`)

import os
import sys

try:
    import dmvpn  # noqa: F401
except ImportError:  # loaded by a TRex console from a checkout: put the repository root on the path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trex_stl_lib.api import *  # noqa: E402,F401,F403  (TRex's API, or dmvpn's stand-in under the local engine)
import trex_stl_lib.api as stl  # noqa: E402

from dmvpn.engines.profile_kit import (  # noqa: E402
    AddressPlan,
    Tunable,
    boolean,
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
from dmvpn.wire.constants import RegistrationFlags  # noqa: E402

TUNABLES = dict(
    common_tunables(),
    spokes=Tunable(100, integer, "number of fake spokes"),
    rate=Tunable(1000.0, float, "registrations per second for the whole storm (<= 0: line rate)"),
    rounds=Tunable(1, integer, "registrations per spoke (each with a new request ID)"),
    reqid_base=Tunable(1, integer, "request ID of packet 0; packet k has reqid_base + k"),
    holding_time=Tunable(7200, integer, "CIE holding time, seconds"),
    mtu=Tunable(0, integer, "CIE MTU (0: default; FRR sends 1400 or the interface MTU)"),
    hopcnt=Tunable(255, integer, "NHRP hop count (Cisco 255, FRR 1 in registrations)"),
    unique=Tunable(True, boolean, "set the U (unique) flag"),
    password=Tunable(None, optional_text, "Cisco plaintext authentication extension password"),
    nat_ext=Tunable(False, boolean, "add the Cisco NAT extension naming the hub"),
    ttl=Tunable(64, integer, "outer IPv4 TTL"),
)


def registration_frames(t):
    """Every frame of the storm, in sending order (Ethernet + IPv4/GRE/NHRP)."""
    plan = AddressPlan.from_tunables(t)
    plan.require(t.spokes)
    if t.rounds < 1:
        raise ValueError("rounds must be >= 1")
    flags = RegistrationFlags.NAT | (RegistrationFlags.U if t.unique else 0)
    eth = ethernet(t.dst_mac, t.src_mac)
    templates = []
    for i in range(t.spokes):
        templates.append(
            T.registration_request(
                outer_src=plan.spoke_nbma(i),
                outer_dst=plan.hub_nbma,
                src_proto=plan.spoke_tunnel(i),
                dst_proto=plan.hub_tunnel,
                gre_key=gre_key_or_none(t.gre_key),
                reqid=0,
                flags=int(flags),
                hopcnt=t.hopcnt,
                holding_time=t.holding_time,
                mtu=t.mtu,
                password=t.password,
                nhs_nbma=plan.hub_nbma if t.nat_ext else None,
                nhs_proto=plan.hub_tunnel if t.nat_ext else None,
                ttl=t.ttl,
            )
        )
    frames = []
    for k in range(t.spokes * t.rounds):
        frames.append(eth + templates[k % t.spokes].build(reqid=(t.reqid_base + k) & 0xFFFFFFFF))
    return frames


class RegistrationStorm:
    def get_streams(self, direction=0, tunables=None, **kwargs):
        t = parse_tunables(TUNABLES, tunables, kwargs, prog="registration_storm")
        return lockstep_streams(stl, registration_frames(t), pps=pps_or_max(t.rate), name="reg")


def register():
    return RegistrationStorm()
