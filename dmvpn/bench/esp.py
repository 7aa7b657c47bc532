"""esp: ESP encrypt-and-send, the fast path (dmvpn.wire.esp) vs scapy's SecurityAssociation.

Both protect the same Registration Requests (GRE in transport-mode ESP) and send them through one
raw IP socket over a veth pair between two namespaces made here (dmvpn-bench-*); what arrived is
counted on the peer. Metrics fast_pps, scapy_pps, fast_vs_scapy_ratio. Needs root.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from dmvpn.engines.veth import veth_pair

from .common import bench_namespaces, rx_packets, settle
from .spec import Benchmark, Metric, Option, Row, record


def bench_esp(count: int = 20000, scapy_count: int | None = None, algorithm: str = "aes-gcm-128") -> Iterator[Row]:
    """Encrypt and send: dmvpn.wire.esp vs scapy's SecurityAssociation, same packets, same socket.

    Both protect the same Registration Requests (GRE in transport-mode ESP) and send them through
    one raw IP socket over a veth pair; what arrived is counted on the peer (`ip -s link`).
    """
    import socket

    from scapy.layers.inet import IP
    from scapy.layers.ipsec import ESP, SecurityAssociation

    from dmvpn.transport.namespace import socket_in_netns
    from dmvpn.wire import templates as T
    from dmvpn.wire.esp import ALGORITHMS, EspSA

    algo = ALGORITHMS[algorithm]
    key = bytes(range(1, 1 + algo.key_len + (4 if algo.aead else 0)))
    auth_key = bytes(range(32))[: 20 if "sha1" in algorithm else 32] if not algo.aead else b""
    scapy_names = {"aes-gcm": ("AES-GCM", None), "aes-cbc": ("AES-CBC", "HMAC-SHA1-96" if "sha1" in algorithm else "SHA2-256-128")}
    crypt, auth = scapy_names[algorithm[:7]]
    template = T.registration_request(outer_src="192.0.2.129", outer_dst="192.0.2.1", src_proto="10.255.0.129",
                                      dst_proto="10.255.0.1", gre_key=42)
    packets = [template.build(reqid=i) for i in range(256)]
    scapy_count = scapy_count or max(50, count // 200)
    with veth_pair("dmvpn-bench-") as link:
        bench_namespaces(link)
        sock = socket_in_netns(link.tx_ns, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        try:
            def run(protect, n: int) -> tuple[float, int]:
                before = rx_packets(link)
                t = time.perf_counter()
                for i in range(n):
                    sock.sendto(protect(packets[i & 255]), ("192.0.2.1", 0))
                elapsed = time.perf_counter() - t
                return n / elapsed, settle(link, before, n)

            fast = EspSA(0x1001, algorithm, key, auth_key=auth_key)
            reference = SecurityAssociation(ESP, spi=0x1001, crypt_algo=crypt, crypt_key=key, auth_algo=auth,
                                            auth_key=auth_key or None)
            iv = bytes(algo.iv_len)
            if bytes(reference.encrypt(IP(packets[0]), iv=iv, seq_num=7)) != fast.protect(packets[0], iv=iv, seq=7):
                raise AssertionError("the fast path and scapy disagree on the same packet")
            fast_pps, fast_rx = run(fast.protect, count)
            scapy_pps, scapy_rx = run(lambda p: bytes(reference.encrypt(IP(p))), scapy_count)
        finally:
            sock.close()
    params = {"algorithm": algorithm, "packet_len": len(packets[0]), "count": count, "scapy_count": scapy_count}
    if fast_rx != count or scapy_rx != scapy_count:
        raise AssertionError(f"sent {count}/{scapy_count} but the peer counted {fast_rx}/{scapy_rx}")
    yield record("esp", "fast_pps", round(fast_pps), "pps", **params)
    yield record("esp", "scapy_pps", round(scapy_pps, 1), "pps", **params)
    yield record("esp", "fast_vs_scapy_ratio", round(fast_pps / scapy_pps, 1), "x", **params)


def from_args(args: Any, progress: Any = None) -> Iterator[Row]:
    for rep in range(max(1, args.repeat or 1)):
        for rec in bench_esp(count=args.count or 20000):
            yield {**rec, "repetition": rep}


BENCHMARK = Benchmark(
    name="esp",
    run=bench_esp,
    summary="ESP encrypt-and-send, fast path vs scapy's SA (root)",
    # no better direction: `report compare` has never judged these
    metrics={"fast_pps": Metric("pps"), "scapy_pps": Metric("pps"), "fast_vs_scapy_ratio": Metric("x")},
    options=(
        Option("--count", "packets encrypted and sent per repetition (20 000)", int),
        Option("--repeat", "repetitions (1)", int),
    ),
    from_args=from_args,
)
