"""Load engines: run the TRex stateless profiles in profiles/ locally or through the real TRex client.

Modules (import what you need; this package imports nothing heavy by itself):
  stl_shim     a scapy-free stand-in for `trex_stl_lib.api` (the subset our profiles use, same JSON)
  loader       `load_profile(path, **tunables)`: runs a profile file in this process with the shim
  fieldengine  TRex field-engine semantics (flow vars inc/dec/random/value_list, writes, IPv4 fix)
  local        `LocalEngine`: profile -> packets -> AF_PACKET sendmmsg from N worker processes
  sendmmsg     ctypes sendmmsg(2) over precomputed frame rings, AF_PACKET socket helpers
  trex         `TrexEngine`: the real TRex client (PyPI lbr-trex-client) in a subprocess
  trex_child   what runs in that subprocess (`python -m dmvpn.engines.trex_child`)
  profile_kit  address plan, tunables and lock-step streams shared by the profiles (scapy-free)
  veth         a veth pair between two throw-away namespaces (benchmarks and tests)

The benchmarks that use the engines (`dmvpn bench engine`, ...) are in dmvpn.bench.

Everything a TRex profile imports (profile_kit, dmvpn.wire.templates, dmvpn.wire.esp) is scapy-free: the
TRex client vendors scapy 2.4.3 and the project's scapy 2.8 must never be loaded next to it.
"""
