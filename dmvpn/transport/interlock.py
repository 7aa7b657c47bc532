"""The safety interlock: nothing leaves for a destination outside the declared prefixes.

The embedded lab declares its own NBMA ranges; a testbed file declares the DUT's. Everything the
project sends goes through `Interlock.check`, so a typo in a testbed file cannot send a storm at
a stranger.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class UnsafeDestination(PermissionError):
    """A send to an address outside every prefix the lab or testbed declared."""


class Interlock:
    """Allow-list of destination prefixes."""

    def __init__(self, prefixes: Iterable[str | Network]) -> None:
        self.prefixes: tuple[Network, ...] = tuple(ipaddress.ip_network(p, strict=False) for p in prefixes)
        if not self.prefixes:
            raise ValueError("an interlock needs at least one allowed prefix")
        self._cache: dict[str, bool] = {}

    def allows(self, destination: str) -> bool:
        hit = self._cache.get(destination)
        if hit is None:
            try:
                address = ipaddress.ip_address(destination)
            except ValueError:
                return False
            hit = any(address in net for net in self.prefixes)
            if len(self._cache) < 65536:
                self._cache[destination] = hit
        return hit

    def check(self, destination: str) -> None:
        if not self.allows(destination):
            allowed = ", ".join(str(p) for p in self.prefixes)
            raise UnsafeDestination(f"refusing to send to {destination}: not in the declared prefixes ({allowed})")

    def __repr__(self) -> str:
        return f"Interlock({[str(p) for p in self.prefixes]})"
