"""dmvpn.ike: IKEv2 for the lab and the tester, by strongSwan (Debian's 5.9.8).

- :mod:`dmvpn.ike.config`: swanctl.conf / strongswan.conf text for PSK, proto-gre CHILD_SAs.
- Lab guests: ``Topology(ike=True)`` runs charon in every guest (transport mode, AES-GCM, kernel
  ESP) and ``Topology(ike_tester=(addr,))`` makes every guest's charon accept the tester.
- :class:`TesterCharon`: charon in the lab namespace with its own config dir, pid file and vici
  socket, kernel-libipsec (the host kernel has no ESP: tunnel mode, ESP in UDP 4500).
- :func:`child_sas`: the negotiated keys from charon's level-4 log (Debian has no save-keys
  plugin) -> :meth:`ChildSaKeys.esp_sas` -> :class:`dmvpn.wire.esp.EspSA`, used by
  :class:`IkeEspLink` (IKE by charon, ESP by us).
"""

from .config import ESP_PROPOSAL, IKE_PROPOSAL, IkeConnection, strongswan_conf, swanctl_conf
from .keys import ChildSaKeys, child_sas
from .link import IkeEspLink
from .tester import IkeError, TesterCharon, strongswan_available

__all__ = [
    "ESP_PROPOSAL", "IKE_PROPOSAL", "ChildSaKeys", "IkeConnection", "IkeError", "IkeEspLink",
    "TesterCharon", "child_sas", "strongswan_available", "strongswan_conf", "swanctl_conf",
]
