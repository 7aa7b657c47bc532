"""DMVPN conformance and performance test suite and traffic generator.

Rooms (one place per concept, data flows one way):
  dmvpn.wire       NHRP/GRE/ESP formats: scapy layer, constants, struct templates
  dmvpn.transport  sending/receiving bytes in the lab's namespaces, capture, safety interlock
  dmvpn.peers      fake spoke / fake NHS state machines
  dmvpn.dut        the DUT as suites see it (embedded lab or testbed file)
  dmvpn.lab        FRR nhrpd in user-mode Linux guests
  dmvpn.engines    load engines (local, TRex)
  dmvpn.results    records -> pandas -> reports/
"""

__version__ = "0.1.0"
