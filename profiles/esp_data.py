"""ESP-protected DMVPN traffic: precomputed transport-mode ESP (AES-GCM-128) around GRE, one packet per sequence number.

TRex console:  start -f profiles/esp_data.py -t count=5000,rate=2000
dmvpn (local): LocalEngine(...).run("profiles/esp_data.py", {"count": 5000, "rate": 2000})

Each packet is outer IPv4 (protocol 50; with nat_t UDP 4500->4500 then ESP) from spoke A's NBMA to
the hub (path `hub`) or to spoke B (path `direct`), ESP SPI `spi` with sequence numbers
first_seq, first_seq+1, ..., first_seq+count-1, next header 47 (GRE), GRE with the key carrying
either an inner IPv4/UDP data packet from A's LAN to B's LAN (payload `data`) or spoke A's NHRP
Registration Request (payload `registration`). Encryption: dmvpn.wire.esp (RFC 4106
AES-GCM-128, nonce = salt || 8-byte IV (the sequence number), AAD = SPI || sequence number).

Anti-replay: ciphertext and ICV change with every sequence number, so neither TRex's field engine
nor a looped stream can produce valid packets. The profile is a chain of `count` single-packet
streams (esp0 -> esp1 -> ... -> esp<count-1>), self_start only on the first, NOT looped, pinned to
one TRex core (core_id) so they leave in order: every sequence number is sent exactly once and in
increasing order, which any receiver window (RFC 4303: 32 required, 64 default) accepts. Sending
the profile a second time against the same SA replays numbers the receiver has seen (dropped as
replays: ESP-03); bump first_seq (or re-key) between runs. `count` is capped at 20 000 streams
(TRex profiles scale to about 10K-20K streams); for longer runs use several SAs (spi) in turn.

Needs the `cryptography` package in the Python that loads it (TRex console included).

Tunables: count, first_seq, spi, key (32 hex digits), salt (8 hex digits), payload
(data|registration), size (inner IPv4 bytes for data), path (hub|direct), nat_t, rate, core_id,
spoke_a, spoke_b, ttl, and the common ones (gre_key, hub_nbma, hub_tunnel, nbma_pools, tunnel_net,
src_mac, dst_mac). `direction` 1 swaps A and B.
"""

# ruff: noqa: F405  (TRex profiles take their API from `from trex_stl_lib.api import *`)

import os
import sys

try:
    import dmvpn  # noqa: F401
except ImportError:  # loaded by a TRex console from a checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trex_stl_lib.api import *  # noqa: E402,F401,F403

from dmvpn.wire.esp import EspSA  # noqa: E402
from dmvpn.engines.profile_kit import (  # noqa: E402
    AddressPlan,
    Tunable,
    boolean,
    common_tunables,
    ethernet,
    gre_key_or_none,
    integer,
    ipv4_udp,
    parse_tunables,
    pps_or_max,
)
from dmvpn.wire import templates as T  # noqa: E402
from dmvpn.wire.constants import GRE_PROTO_IPV4  # noqa: E402

MAX_STREAMS = 20000
DEFAULT_KEY = "000102030405060708090a0b0c0d0e0f"
DEFAULT_SALT = "a0a1a2a3"

TUNABLES = dict(
    common_tunables(),
    count=Tunable(1000, integer, f"packets = sequence numbers = chained streams (1-{MAX_STREAMS})"),
    first_seq=Tunable(1, integer, "sequence number of the first packet"),
    spi=Tunable(0x1001, integer, "SPI (>= 256)"),
    key=Tunable(DEFAULT_KEY, str, "AES-128 key, 32 hex digits (test key: never a real one)"),
    salt=Tunable(DEFAULT_SALT, str, "RFC 4106 salt, 8 hex digits"),
    payload=Tunable("data", str, "inside GRE: 'data' (IPv4/UDP A LAN -> B LAN) or 'registration' (NHRP)"),
    size=Tunable(100, integer, "inner IPv4 size for payload=data (28-1400)"),
    path=Tunable("hub", str, "outer destination: 'hub' or 'direct' (spoke B)"),
    nat_t=Tunable(False, boolean, "UDP-encapsulate ESP (RFC 3948, port 4500, checksum 0)"),
    rate=Tunable(1000.0, float, "packets per second (<= 0: line rate)"),
    core_id=Tunable(0, integer, "TRex core for the whole chain (-1: let TRex choose; order then not guaranteed)"),
    spoke_a=Tunable(0, integer, "sending spoke"),
    spoke_b=Tunable(1, integer, "peer spoke (LAN destination; outer destination with path=direct)"),
    ttl=Tunable(64, integer, "outer IPv4 TTL"),
)


def esp_plain_packet(t, direction=0):
    """The IPv4/GRE packet every ESP packet protects."""
    plan = AddressPlan.from_tunables(t)
    a, b = (t.spoke_a, t.spoke_b) if direction == 0 else (t.spoke_b, t.spoke_a)
    plan.require(max(a, b) + 1)
    if a == b:
        raise ValueError("spoke_a and spoke_b must differ")
    if t.path not in ("hub", "direct"):
        raise ValueError(f"path must be hub or direct, not {t.path!r}")
    dst = plan.hub_nbma if t.path == "hub" else plan.spoke_nbma(b)
    key = gre_key_or_none(t.gre_key)
    if t.payload == "data":
        if not 28 <= t.size <= 1400:
            raise ValueError(f"size must be 28-1400, got {t.size}")
        inner = ipv4_udp(plan.lan_host(a, 1), plan.lan_host(b, 10), t.size)
        return T.encode_ipv4_gre(inner, src=plan.spoke_nbma(a), dst=dst, key=key, proto=GRE_PROTO_IPV4, ttl=t.ttl)
    if t.payload == "registration":
        return T.registration_request(
            outer_src=plan.spoke_nbma(a), outer_dst=dst, src_proto=plan.spoke_tunnel(a),
            dst_proto=plan.hub_tunnel, gre_key=key, reqid=t.first_seq, ttl=t.ttl,
        ).packet  # fmt: skip
    raise ValueError(f"payload must be data or registration, not {t.payload!r}")


def esp_sa(t):
    nat_t = (4500, 4500) if t.nat_t else None
    return EspSA(t.spi, "aes-gcm-128", bytes.fromhex(t.key) + bytes.fromhex(t.salt), seq=t.first_seq, nat_t=nat_t)


def esp_frames(t, direction=0):
    """Every frame, in sequence-number order."""
    if not 1 <= t.count <= MAX_STREAMS:
        raise ValueError(f"count must be 1-{MAX_STREAMS}, got {t.count}")
    if t.first_seq + t.count - 1 > 0xFFFFFFFF:
        raise ValueError("sequence numbers would pass 2**32-1 (no ESN): lower first_seq or count")
    plain = esp_plain_packet(t, direction)
    sa = esp_sa(t)
    eth = ethernet(t.dst_mac, t.src_mac)
    return [eth + sa.protect(plain) for _ in range(t.count)]


class EspData:
    def get_streams(self, direction=0, tunables=None, **kwargs):
        t = parse_tunables(TUNABLES, tunables, kwargs, prog="esp_data")
        frames = esp_frames(t, direction)
        pps = pps_or_max(t.rate)
        last = len(frames) - 1
        return [
            STLStream(
                name=f"esp{k}",
                packet=STLPktBuilder(pkt_buffer=frame),
                mode=STLTXSingleBurst(total_pkts=1, pps=pps),
                self_start=k == 0,
                next=f"esp{k + 1}" if k < last else None,
                core_id=t.core_id,
            )
            for k, frame in enumerate(frames)
        ]


def register():
    return EspData()
