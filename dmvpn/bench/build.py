"""build: the same IPv4/GRE/NHRP Registration Request built per packet with the struct template
(dmvpn.wire.templates) and with the scapy layer (dmvpn.wire.nhrp), bytes checked equal first.

Metrics template_us, scapy_us, template_vs_scapy_ratio (= scapy_us / template_us). Not part of
the main job (a number about this machine's Python, not the DUT).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from .spec import Benchmark, Metric, Option, Row, record


def bench_build(iterations: int = 20000, scapy_iterations: int | None = None) -> Iterator[Row]:
    """Per-packet build time of one Registration Request: template vs scapy (varying spoke and reqid)."""
    from scapy.layers.inet import IP
    from scapy.layers.l2 import GRE

    from dmvpn.wire import nhrp as N
    from dmvpn.wire import templates as T

    spokes = [(f"192.0.2.{128 + i}", f"10.255.0.{2 + i}") for i in range(64)]

    def scapy_build(nbma: str, proto: str, reqid: int) -> bytes:
        return bytes(
            IP(src=nbma, dst="192.0.2.1")
            / GRE(key_present=1, key=42, proto=0x2001)
            / N.NHRP(hopcnt=255)
            / N.NHRPRegistrationRequest(
                flags=0x8002, reqid=reqid, src_nbma=nbma, src_proto=proto, dst_proto="10.255.0.1",
                cies=[N.NHRPCIE(prefix_len=32, holding_time=7200)],
                extensions=[N.NHRPExtResponderAddress(), N.NHRPExtForwardTransit(), N.NHRPExtReverseTransit(), N.NHRPExtEnd()],
            )
        )  # fmt: skip

    template = T.registration_request(
        outer_src=spokes[0][0], outer_dst="192.0.2.1", src_proto=spokes[0][1], dst_proto="10.255.0.1", gre_key=42
    )

    def template_build(nbma: str, proto: str, reqid: int) -> bytes:
        return template.build(outer_src=nbma, src_nbma=nbma, src_proto=proto, reqid=reqid)

    for i, (nbma, proto) in enumerate(spokes):
        a, b = template_build(nbma, proto, i), scapy_build(nbma, proto, i)
        if a != b:
            raise AssertionError(f"template and scapy disagree for spoke {i}: {a.hex()} != {b.hex()}")
    iterations = max(1, iterations)
    scapy_iterations = scapy_iterations or max(10, iterations // 50)

    def per_packet(fn: Any, n: int) -> float:
        t = time.perf_counter()
        for k in range(n):
            nbma, proto = spokes[k & 63]
            fn(nbma, proto, k)
        return (time.perf_counter() - t) / n * 1e6

    t_us = per_packet(template_build, iterations)
    s_us = per_packet(scapy_build, scapy_iterations)
    params = {"packet_len": len(template), "iterations": iterations, "scapy_iterations": scapy_iterations}
    yield record("build", "template_us", round(t_us, 3), "us", **params)
    yield record("build", "scapy_us", round(s_us, 3), "us", **params)
    yield record("build", "template_vs_scapy_ratio", round(s_us / t_us, 2), "x", **params)


def from_args(args: Any, progress: Any = None) -> Iterator[Row]:
    for rep in range(max(1, args.repeat or 1)):
        for rec in bench_build(args.iterations):
            yield {**rec, "repetition": rep}


BENCHMARK = Benchmark(
    name="build",
    run=bench_build,
    summary="template vs scapy",
    metrics={
        "template_us": Metric("us", "lower"),
        "scapy_us": Metric("us", "lower"),
        "template_vs_scapy_ratio": Metric("x", "higher"),
    },
    options=(
        Option("--iterations", "template builds timed (scapy: 1/50 of it, >= 10)", int, 20000),
        Option("--repeat", "repetitions (1)", int),
    ),
    from_args=from_args,
)
