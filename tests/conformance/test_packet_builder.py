"""`CaseContext.packet` builds, byte for byte, what the builders it replaced built (DUTs without a
password): the fixture holds the old builders' output for representative calls (captured from the
commit before the change: `ctx.registration`, `_hub.registration`, `_hub.resolution_request`, the
purge builder, the `Rig`'s replies, the hand-written IPv4/GRE/ICMP builders), each recomputed here
with what replaced it. With a password, every packet to the DUT carries it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import suites.conformance.registration  # noqa: F401  (registers the cases)
from dmvpn.conformance import CaseContext, all_cases
from dmvpn.dut import InProcessDut
from dmvpn.dut.inprocess import InProcessSpokeDut
from dmvpn.wire import constants as C
from dmvpn.wire import templates as T
from dmvpn.wire.fastparse import parse_ipv4_gre
from suites.conformance import _hub as H
from suites.conformance import _nhc as N
from suites.conformance import purge as P

BEFORE = json.loads((Path(__file__).parent / "fixtures" / "builders_before.json").read_text())
REG = C.PacketType.REGISTRATION_REQUEST
NBMA, PROTO = "192.0.2.77", "10.255.0.77"


def _contexts(password: bytes | None = None):
    dut = InProcessDut()
    if password is not None:
        import dataclasses

        dut.info = dataclasses.replace(dut.info, password=password)
    sdut = InProcessSpokeDut()
    return CaseContext(all_cases()["REG-01"], dut, None), CaseContext(all_cases()["REG-01"], sdut, sdut.open_link())


def built(password: bytes | None = None) -> dict[str, bytes]:
    ctx, sctx = _contexts(password)
    spoke, natted, other = H.Spoke(NBMA, PROTO), H.Spoke(NBMA, PROTO, claimed="198.51.100.9"), H.Spoke("192.0.2.78", "10.255.0.78")
    out = {
        "reg": ctx.packet(REG, (NBMA, PROTO), 0x10001),
        "reg hopcnt 0": ctx.packet(REG, (NBMA, PROTO), 7, hopcnt=0),
        "reg prefix 24": ctx.packet(REG, (NBMA, PROTO), 7, prefix_len=24),
        "reg nat flags src_nbma": ctx.packet(REG, (NBMA, PROTO), 7, src_nbma="192.0.2.99", flags=C.RegistrationFlags.NAT),
        "reg ext": ctx.packet(REG, (NBMA, PROTO), 7, extensions=ctx.extensions(T.Extension(0x0100, b"\x01", False), transit=False)),
        "hub reg": ctx.packet(REG, spoke, 9),
        "hub reg nonunique holding 2": ctx.packet(REG, spoke, 9, flags=H.NAT, holding_time=2),
        "hub reg claimed": ctx.packet(REG, natted, 9),
        "hub reg dst hop": ctx.packet(REG, spoke, 9, dst_proto=other.proto, hopcnt=16),
        "hub reg extensions": ctx.packet(REG, spoke, 9, extensions=ctx.extensions()),
        "resolution": H.resolution_request(ctx, spoke, other.proto, 11),
        "resolution claimed v6": H.resolution_request(ctx, natted, H.v6(other.proto), 11, prefix_len=0xFF, hopcnt=3, holding_time=5),
        "purge": P._purge(ctx, spoke, other.proto, 12),
        "purge no reply reply": P._purge(ctx, spoke, other.proto, 12, no_reply=True, op_type=C.PacketType.PURGE_REPLY),
        "dut cie ext": T.NhrpTemplate.compile(2, outer_src=NBMA, outer_dst="192.0.2.1", src_nbma=NBMA, src_proto=PROTO, dst_proto=PROTO,
                                              extensions=ctx.extensions(responder=[H.dut_cie(ctx)], forward=[H.dut_cie(ctx, "192.0.2.50")])).packet,
        "gre": H.gre(ctx, NBMA, b"abcdefgh"),
        "gre variants": H.gre(ctx, NBMA, b"abcdefg", flags=0x0200, key=None, seq=5, checksum="auto", version=1, proto=0x0800),
        "gre checksum value": H.gre(ctx, NBMA, b"abcdefgh", checksum=0x1234),
        "ipv4": H.ipv4("10.0.0.1", "10.0.0.2", b"xyz", 17, ttl=3, ident=9),
        "icmp": H.icmp_echo(seq=3),
        "data4": H.data_packet("10.200.0.2", "10.255.0.78", seq=4, ttl=9),
        "data6": H.data_packet("2001:db8::1", "2001:db8::2", seq=4),
        "nhc echo": N.ipv4_echo("10.1.0.1", "10.2.0.10"),
    }
    rig = N.Rig(sctx)
    sinfo = sctx.dut.info
    req = parse_ipv4_gre(T.registration_request(outer_src="192.0.2.5", outer_dst=rig.nhs_nbma, src_proto="10.255.0.5", dst_proto=rig.nhs_proto,
                                                gre_key=sinfo.gre_key, reqid=99, mtu=1400, nhs_nbma=rig.nhs_nbma, nhs_proto=rig.nhs_proto).packet)
    rreq = parse_ipv4_gre(T.resolution_request(outer_src="192.0.2.5", outer_dst=rig.nhs_nbma, src_proto="10.255.0.5", dst_proto="10.9.0.10",
                                               gre_key=sinfo.gre_key, reqid=98, nat_cies=()).packet)
    out.update({
        "rig ti": rig.traffic_indication("10.9.0.10"),
        "rig forwarded": rig.forwarded_request(("192.0.2.80", "10.255.0.80"), "10.1.0.10", 13),
        "rig forwarded direct": rig.forwarded_request(("192.0.2.80", "10.255.0.80"), "10.1.0.10", 13, direct=True, holding_time=7, flags=0x8000),
        "rig reg reply": rig.registration_reply(req),
        "rig reg reply code": rig.registration_reply(req, code=5),
        "rig res reply": rig.resolution_reply(rreq, ("192.0.2.81", "10.255.0.81")),
        "rig res reply nat": rig.resolution_reply(rreq, ("192.0.2.81", "10.255.0.81"), nat_nbma="198.51.100.7", code=4, prefix_len=32, reqid=5),
    })
    return out


NOW = built()


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_same_bytes_as_the_builder_it_replaced(name: str) -> None:
    assert bytes(NOW[name]).hex() == BEFORE[name]


def test_every_nhrp_packet_to_a_dut_with_a_password_carries_it() -> None:
    ctx, _ = _contexts(b"DMVPN")
    for name, packet in built(b"DMVPN").items():
        if name.startswith(("gre", "ipv4", "icmp", "data", "nhc echo", "dut cie", "rig")):
            continue  # not NHRP, or not to this DUT
        types = [e.type for e in parse_ipv4_gre(packet).nhrp.extensions]
        assert C.ExtensionType.AUTHENTICATION in types, name


def test_a_packet_of_every_type_the_suites_send() -> None:
    ctx, _ = _contexts()
    for op_type in (1, 2, 3, 4, 5, 6):
        view = parse_ipv4_gre(ctx.packet(op_type, (NBMA, PROTO), 5)).nhrp
        assert (view.op_type, view.reqid, str(view.src_nbma), str(view.dst_proto)) == (op_type, 5, NBMA, ctx.dut.info.proto)
    error = parse_ipv4_gre(ctx.packet(7, (NBMA, PROTO), payload=b"\0" * 28, error_code=6)).nhrp
    assert (error.op_type, error.code, error.extensions) == (7, 6, [])
    indication = parse_ipv4_gre(ctx.packet(8, (NBMA, PROTO), payload=b"\x45" + b"\0" * 27)).nhrp
    assert indication.op_type == 8
