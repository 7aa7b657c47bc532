"""External gear as the DUT, described by a testbed file (the format: :mod:`.file`).

- :mod:`.file`: reading and checking the file (one line naming the key for anything wrong, public
  address space refused unless the file says why);
- :mod:`.ssh`: SSH management through asyncssh, arguments quoted for the remote shell;
- :mod:`.frr`: FRR / VyOS over SSH (`vtysh -c '...' json`, the lab's parsers);
- :mod:`.cisco`: Cisco IOS / IOS-XE over SSH, its output parsed with TextFSM and ntc-templates;
- :mod:`.dut`: the DUT adapter (links, state, spoke controls, health, bounded recovery);
- :mod:`.check`: the checks and the plan of `dmvpn testbed check FILE` / `--dry-run` (dmvpn.testbed_cli).
"""

from __future__ import annotations

from .dut import TestbedDut, open_management
from .file import KNOWN_CAPABILITIES, SAFE_SPACE, Testbed, TestbedError, load, parse

__all__ = ["KNOWN_CAPABILITIES", "SAFE_SPACE", "Testbed", "TestbedDut", "TestbedError", "load", "open_management", "parse"]
