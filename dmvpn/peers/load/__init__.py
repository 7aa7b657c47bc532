"""Closed-loop control-plane load: many emulated spokes registering, refreshing and resolving.

One `LoadGenerator` speaks for N emulated spokes over one raw GRE socket (or an in-memory link):
it keeps up to `window` requests in flight, issues new ones at a target rate, matches replies by
request ID, times every exchange and retransmits on timeout with the same request ID (RFC 2332
§5.2.0.1). It never parses a reply beyond a few fixed offsets, and never builds a packet through
scapy or even the template's generic patcher on the hot path:

  * every spoke's request is precompiled once (`NhrpTemplate.build` per spoke: its outer NBMA, the
    claimed NBMA, its tunnel address) with request ID 0, together with the one's complement sum of
    its NHRP part; a request is that packet copied into a send slot, the request ID written at its
    fixed offset and the NHRP checksum set from sum + ID (+ the resolution target's address);
  * packets leave in batches (sendmmsg through ctypes on a raw IPv4 socket) and arrive in batches
    (recvmmsg); a reply is matched by the request ID read at its fixed offset, which gives the index
    into per-request arrays: the ID is base + sequence number * an odd stride (mod 2**32), unique per
    run and scattered, so that a DUT answering with a wrong ID (ID + 1, say) matches nothing; the
    reply must also carry the requesting spoke's tunnel address as its source protocol address;
  * timeouts are FIFO queues per attempt (every request on its k-th send has the same timeout, so
    each queue is sorted by deadline): no heap, no timer objects.

Accounting (`LoadResult`): requests issued, packets sent, retransmissions, replies matched (ok), NAKs
(a reply whose CIE code is not success), error indications about our requests, resolution requests
forwarded to the target spoke (the hub forwarded instead of answering: its work is done), losses
(no reply after the last attempt), late replies (after being counted lost), duplicates (a second
reply to an answered request), unmatched packets (not from the DUT, not ours, not the reply type
expected, or not naming the requesting spoke) and replies with a bad NHRP checksum (dropped).
Latency is from the first send of a request to its reply (loop timestamps, after each recvmmsg).

The null responder (`null_responder_main`, `python -m dmvpn.peers.load null-responder`) is the
`generator` benchmark's DUT: another process, in another namespace, that turns each request into a
reply by patching bytes (type 1/3/5 -> 2/4/6, outer addresses swapped, NHRP checksum fixed
incrementally per RFC 1624; the IPv4 checksum does not change when addresses are swapped). It can
drop every k-th request or the first copy of each request ID, for loss and retransmission tests.

Emulated spoke identities (`Identities.plan`): NBMA addresses come from the documentation ranges the
lab routes to the tester (192.0.2.128/25, 198.51.100.0/24, 203.0.113.0/24: 635 usable addresses).
Up to that many spokes each get their own NBMA address. Beyond it, spokes share NBMA addresses
behind an emulated NAT: each claims its own private NBMA address in the NHRP header (10.64.0.0/10,
inside the GRE payload only) while the packets come from the shared public one, exactly what a NAT
box in front of several spokes produces; FRR 8.4 records such a spoke as NBMA = the public address,
claimed NBMA = the private one. `nat="always"` (the registration benchmark's default) puts every
spoke behind the emulated NAT, so that FRR runs the same code path for every N. Tunnel addresses
come from 10.128.0.0/9 (FRR 8.4 accepts registrations for addresses outside its own tunnel prefix
and installs a /32 route and a kernel neighbour entry for each).

Modules, by subject: `identities` (who the emulated spokes are), `io` (RawGreIO, MemoryIO: batches
in and out of preallocated slots), `generator` (LoadGenerator: precompiled requests and the loop),
`result` (LoadResult), `responder` (the null responder, in process and as a process; its command
line is `__main__`), `blocking` (the blocking baseline).
"""

from .blocking import blocking_exchanges
from .generator import (
    ERROR, FORWARDED, KIND_NAMES, KIND_REGISTRATION, KIND_RESOLUTION, LOST, NAK, OK, PENDING, REQID_INVERSE,
    REQID_STRIDE, LoadGenerator,
)
from .identities import DEFAULT_CLAIMED_NET, DEFAULT_NBMA_POOL, DEFAULT_TUNNEL_NET, LAB_PREFIXES, Identities
from .io import SLOT, MemoryIO, RawGreIO, Slots
from .responder import NullResponder, ResponderProcess, null_reply, null_responder_main, start_null_responder
from .result import LoadResult

__all__ = [
    "DEFAULT_CLAIMED_NET",
    "DEFAULT_NBMA_POOL",
    "DEFAULT_TUNNEL_NET",
    "ERROR",
    "FORWARDED",
    "Identities",
    "KIND_NAMES",
    "KIND_REGISTRATION",
    "KIND_RESOLUTION",
    "LAB_PREFIXES",
    "LOST",
    "LoadGenerator",
    "LoadResult",
    "MemoryIO",
    "NAK",
    "NullResponder",
    "OK",
    "PENDING",
    "REQID_INVERSE",
    "REQID_STRIDE",
    "RawGreIO",
    "ResponderProcess",
    "SLOT",
    "Slots",
    "blocking_exchanges",
    "null_reply",
    "null_responder_main",
    "start_null_responder",
]
