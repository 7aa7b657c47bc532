"""What a DUT can do beyond plain NHRP: the one vocabulary DUTs declare and cases require.

A DUT lists its capabilities in `DutInfo.capabilities`; a case lists what it needs in
`@case(..., requires=(Capability.NAT,))`. A case whose DUT lacks one is not applicable. Members
are strings (`Capability.NAT == "nat"`), so a testbed file names them by value.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Capability(StrEnum):
    AUTHENTICATION = "authentication"  # checks the Cisco authentication extension (password)
    REDIRECT = "redirect"  # a hub that sends Traffic Indications (DMVPN phase 3)
    SHORTCUT = "shortcut"  # a spoke that resolves and installs shortcuts
    NAT = "nat"  # the NAT extension (draft-detienne-dmvpn-01)
    PURGE = "purge"  # answers and sends Purge Requests
    IPV6 = "ipv6"  # IPv6 protocol addresses over the IPv4 NBMA
    ESP = "esp"  # NHRP/GRE inside IPsec ESP transport mode with the tester's SAs
    NAT_T = "nat-t"  # ESP in UDP 4500 (RFC 3948)
    ANTI_REPLAY = "anti-replay"  # an ESP replay window
    CACHE = "cache"  # a readable NHRP cache (management plane)
    TRIGGER_REGISTRATION = "trigger-registration"  # a DUT spoke can be made to register now
    SEND_DATA = "send-data"  # a DUT spoke can be made to send data from its LAN
    ERROR_INDICATION = "error-indication"  # sends Error Indications


def capabilities(names: Iterable[str | Capability], where: str = "") -> frozenset[Capability]:
    """These names as capabilities; an unknown name is a ValueError naming it (and `where`)."""
    out = set()
    for name in names:
        try:
            out.add(Capability(name))
        except ValueError:
            known = ", ".join(c.value for c in Capability)
            raise ValueError(f"{where + ': ' if where else ''}unknown capability {name!r} (known: {known})") from None
    return frozenset(out)
