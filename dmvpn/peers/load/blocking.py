"""The blocking baseline: the plain one-request-at-a-time loop the generator is measured against."""

from __future__ import annotations

import secrets
import socket
import struct
import time

from dmvpn.wire import templates as T

from .identities import Identities


def blocking_exchanges(sock: socket.socket, ids: Identities, *, hub_nbma: str, hub_proto: str, count: int,
                       gre_key: int | None = 42, timeout: float = 0.5, max_seconds: float = 60.0) -> tuple[int, int, float]:
    """The plain loop one would write first: build (NhrpTemplate.build), sendto, blocking recv, check.

    One request at a time over `sock` (a raw GRE socket, IP_HDRINCL). Returns (answered, lost,
    seconds).
    """
    o, c, p = ids.text(0)
    template = T.registration_request(outer_src=o, outer_dst=hub_nbma, src_nbma=c, src_proto=p, dst_proto=hub_proto,
                                      gre_key=gre_key, hopcnt=1, prefix_len=0xFF, nhs_nbma=hub_nbma, nhs_proto=hub_proto)
    nhrp_off = template.nhrp_offset
    sock.setblocking(True)
    sock.settimeout(timeout)
    answered = lost = 0
    base = secrets.randbits(31)
    n = len(ids)
    t0 = time.monotonic()
    end = t0 + max_seconds
    for k in range(count):
        if time.monotonic() > end:
            break
        i = k % n
        reqid = (base + k) & 0xFFFFFFFF
        packet = template.build(outer_src=ids.outer[i], src_nbma=ids.claimed[i], src_proto=ids.proto[i], reqid=reqid)
        sock.sendto(packet, (hub_nbma, 0))
        while True:
            try:
                reply = sock.recv(2048)
            except (socket.timeout, BlockingIOError):
                lost += 1
                break
            if struct.unpack_from(">I", reply, nhrp_off + 24)[0] == reqid and reply[nhrp_off + 17] == 4:
                answered += 1
                break
    return answered, lost, time.monotonic() - t0
