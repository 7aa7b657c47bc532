"""Building the same Registration Request with the struct template and with scapy.

Run `pytest tests/bench --benchmark-enable` for the numbers (the default test run only checks
that both paths build the same bytes). Compare the two means in the "build" group: the template
path is the one profiles and the fake spokes use at rate.
"""

from __future__ import annotations

import itertools

import pytest
from scapy.layers.inet import IP
from scapy.layers.l2 import GRE

from dmvpn.wire import templates as T
from dmvpn.wire.nhrp import NHRP, NHRPCIE, NHRPExtEnd, NHRPExtForwardTransit, NHRPExtNATAddress, NHRPExtResponderAddress, NHRPExtReverseTransit, NHRPRegistrationRequest

SPOKES = [(f"192.0.2.{10 + i}", f"10.255.0.{10 + i}") for i in range(64)]


def scapy_registration(nbma: str, proto: str, reqid: int) -> bytes:
    return bytes(
        IP(src=nbma, dst="192.0.2.1")
        / GRE(key_present=1, key=42, proto=0x2001)
        / NHRP(hopcnt=1)
        / NHRPRegistrationRequest(
            flags=0x8002, reqid=reqid, src_nbma=nbma, src_proto=proto, dst_proto="10.255.0.1",
            cies=[NHRPCIE(prefix_len=32, mtu=1400, holding_time=7200)],
            extensions=[NHRPExtResponderAddress(), NHRPExtForwardTransit(), NHRPExtReverseTransit(),
                        NHRPExtNATAddress(cies=[NHRPCIE(prefix_len=32, client_nbma="192.0.2.1", client_proto="10.255.0.1")]),
                        NHRPExtEnd()],
        )
    )


TEMPLATE = T.NhrpTemplate.compile(
    3, outer_src="192.0.2.10", outer_dst="192.0.2.1", gre_key=42, hopcnt=1, flags=0x8002,
    src_nbma="192.0.2.10", src_proto="10.255.0.10", dst_proto="10.255.0.1",
    cies=[T.Cie(prefix_len=32, mtu=1400, holding_time=7200)],
    extensions=[T.responder_address(), T.forward_transit(), T.reverse_transit(),
                T.nat_address([T.Cie(prefix_len=32, client_nbma="192.0.2.1", client_proto="10.255.0.1")]), T.end()],
)


def template_registration(nbma: str, proto: str, reqid: int) -> bytes:
    return TEMPLATE.build(outer_src=nbma, src_nbma=nbma, src_proto=proto, reqid=reqid, holding_time=7200)


def test_both_paths_build_the_same_bytes() -> None:
    for reqid, (nbma, proto) in enumerate(SPOKES):
        assert template_registration(nbma, proto, reqid) == scapy_registration(nbma, proto, reqid)


@pytest.mark.benchmark(group="build")
@pytest.mark.parametrize("path", [template_registration, scapy_registration], ids=["template", "scapy"])
def test_build_registration_request(benchmark, path) -> None:
    counter = itertools.count()

    def one() -> bytes:
        i = next(counter)
        nbma, proto = SPOKES[i % len(SPOKES)]
        return path(nbma, proto, i & 0xFFFFFFFF)

    assert len(benchmark(one)) == len(TEMPLATE)
