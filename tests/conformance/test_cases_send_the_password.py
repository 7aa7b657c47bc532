"""Against a DUT configured with a password (Cisco plaintext authentication), every NHRP packet a
case sends to the DUT carries it, whatever its type: requests, the tester's replies as NHS or
target, forwarded and transit packets, Error and Traffic Indications. A packet without it is
answered by FRR 10.3 with Error Indication 11, and the case then measures the authentication check
instead of its own clause. Exempt: the authentication cases themselves (they send wrong and missing
passwords on purpose), packets whose extension list is malformed on purpose (unparseable), and
the ESP cases (their NHRP is inside ESP, to a hub without a password)."""

from __future__ import annotations

import dataclasses
import struct

import pytest

from dmvpn.conformance import all_cases
from dmvpn.dut.capability import Capability
from dmvpn.dut.inprocess import InProcessSpokeDut
from dmvpn.peers import Tunnel
from dmvpn.wire import constants as C
from dmvpn.wire.fastparse import parse_ipv4_gre

from .selftest import PASSWORD, case_functions, dut_for, group_modules, run

FUNCTIONS = case_functions(group_modules())
WANT = struct.pack("!I", C.CISCO_AUTH_PLAINTEXT) + PASSWORD


def _spoke_dut() -> InProcessSpokeDut:
    dut = InProcessSpokeDut()
    dut.info = dataclasses.replace(dut.info, password=PASSWORD)
    tunnel = dut.spoke.tunnel
    dut.spoke.tunnel = Tunnel(tunnel.gre_key, tunnel.holding_time, tunnel.mtu, PASSWORD)
    return dut


def _sent_without_password(dut, link_log) -> list[str]:
    missing = []
    for direction, raw in link_log:
        if direction != "out" or raw[16:20] != bytes(int(x) for x in dut.info.nbma.split(".")):
            continue
        try:
            packet = parse_ipv4_gre(raw)
            view = packet.nhrp if packet is not None else None
            extensions = list(view.extensions) if view is not None else None
        except Exception:
            continue  # malformed on purpose: its extensions are not the point
        if view is None or extensions is None:
            continue
        values = [e.value for e in extensions if e.type == C.ExtensionType.AUTHENTICATION]
        if values != [WANT]:
            missing.append(f"type {view.op_type} reqid {view.reqid}: authentication {values or 'absent'}")
    return missing


CASES = sorted(cid for cid, info in all_cases().items()
               if cid in FUNCTIONS and not {Capability.AUTHENTICATION, Capability.ESP} & set(info.requires) and info.role in ("hub", "spoke", "any"))


@pytest.mark.parametrize("case_id", CASES)
def test_every_packet_to_the_dut_carries_its_password(case_id: str) -> None:
    info = all_cases()[case_id]
    dut = _spoke_dut() if info.role == "spoke" else dut_for(case_id, password=PASSWORD)
    logs = []
    original = dut.open_link

    def open_link():
        link = original()
        logs.append(link)
        return link

    dut.open_link = open_link
    result = run(FUNCTIONS[case_id], case_id, dut)
    assert result.verdict.value != "error", result.detail
    missing = [m for link in logs for m in _sent_without_password(dut, link.log)]
    assert not missing, missing
