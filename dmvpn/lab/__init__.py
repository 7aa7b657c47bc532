"""dmvpn.lab: FRR nhrpd hubs and spokes in user-mode Linux guests, on a LAN of network namespaces.

Public API::

    from dmvpn.lab import Lab, Topology, NodeOptions
    with Lab(Topology(hubs=1, spokes=2)) as lab:
        lab.exec("spoke1", ["ping", "-c1", "10.255.0.1"])
        lab.nhrp_cache("hub")
"""

from .errors import BootError, CommandTimeout, GuestDied, LabError, LabTerminated, PrerequisiteError
from .guest import Result
from .lab import Health, Lab, check_prerequisites
from .mgmt import CacheEntry, NhsEntry, Shortcut, XfrmState, poll_until
from .netns import in_netns, run_in_netns, socket_in_netns
from .render import EspSa, esp_sas
from .state import reap_stale
from .topology import (
    NBMA_NET,
    TESTER_EXTRA_NETS,
    TESTER_NBMA,
    TESTER_POOL,
    TESTER_TUNNEL,
    TUNNEL_NET,
    Node,
    NodeOptions,
    Topology,
)

__all__ = [
    "BootError", "CacheEntry", "CommandTimeout", "EspSa", "GuestDied", "Health", "Lab", "LabError",
    "LabTerminated", "NBMA_NET", "NhsEntry", "Node", "NodeOptions", "PrerequisiteError", "Result",
    "Shortcut", "TESTER_EXTRA_NETS", "TESTER_NBMA", "TESTER_POOL", "TESTER_TUNNEL", "TUNNEL_NET",
    "Topology", "XfrmState", "check_prerequisites", "esp_sas", "in_netns", "poll_until",
    "reap_stale", "run_in_netns", "socket_in_netns",
]
