"""The embedded implementations as data: which FRR a guest runs, from which root, how it starts.

========== ======================================= ===========================================
name       root file system of the guests          what it is
========== ======================================= ===========================================
frr-8.4    the host's ``/`` (Debian 12's frr 8.4)   the default; no ``ip nhrp authentication``
frr-10.3   Debian 13 "trixie" root built once with  ``ip nhrp authentication`` (10.2+), IPv6
           mmdebstrap (see :mod:`dmvpn.lab.roots`)   overlay, resolution retransmission, mgmtd
========== ======================================= ===========================================

``features`` say what the implementation *is* (from its version), not what a lab configured:
the lab DUT offers a feature as a capability only when the topology also configures it (for
example ``authentication`` needs ``Topology(nhrp_password=...)``; the lab runs IPv6 disabled, so
``ipv6`` is never offered by the lab today).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT = "frr-8.4"


def roots_dir() -> Path:
    """Where built roots live: /var/cache/dmvpn/roots, or $DMVPN_ROOTS_DIR."""
    return Path(os.environ.get("DMVPN_ROOTS_DIR", "/var/cache/dmvpn/roots"))


def root_path(name: str) -> Path:
    return roots_dir() / name


@dataclass(frozen=True)
class RootRecipe:
    """A root file system built from Debian's registry with mmdebstrap."""

    suite: str  #: Debian suite, e.g. "trixie"
    packages: tuple[str, ...]
    frr_version: str  #: the frr package version inside must start with this ("10.3")


@dataclass(frozen=True)
class Implementation:
    name: str
    frr_version: str  #: what `show version` says ("FRRouting 10.3 ..." -> "10.3")
    description: str
    features: frozenset[str]
    #: FRR daemons in start order (each ``-d -A 127.0.0.1 -f <node dir>/<daemon>.conf``)
    daemons: tuple[str, ...] = ("zebra", "nhrpd")
    #: the daemons keep a captured stdout open after daemonising (FRR 10): start them with output
    #: to a file in the node dir, never into a pipe the guest agent would wait on
    daemon_output_to_file: bool = False
    #: daemons without a config file of their own (mgmtd takes no -f; it logs with --log file:PATH)
    no_config_file: frozenset[str] = frozenset()
    #: None: the host's own / (over hostfs); else the root is built by dmvpn.lab.roots
    recipe: RootRecipe | None = None

    @property
    def own_root(self) -> bool:
        return self.recipe is not None

    def root(self) -> Path:
        """Where the guests' root file system lives (not checked or built: see roots.ensure_root)."""
        return Path("/") if self.recipe is None else root_path(self.name)

    def has(self, feature: str) -> bool:
        return feature in self.features


#: features both FRR versions have
_FRR_COMMON = frozenset({"redirect", "shortcut", "nat", "ipv6"})

IMPLEMENTATIONS: dict[str, Implementation] = {
    "frr-8.4": Implementation(
        name="frr-8.4",
        frr_version="8.4",
        description="FRR 8.4 nhrpd from the host's Debian 12 packages (the guests' root is the host's /)",
        features=_FRR_COMMON,
    ),
    "frr-10.3": Implementation(
        name="frr-10.3",
        frr_version="10.3",
        description="FRR 10.3 nhrpd from Debian 13 (trixie), in a root file system built once with mmdebstrap",
        features=_FRR_COMMON | {
            "authentication",  # ip nhrp authentication PASSWORD: Cisco plaintext (FRR 10.2)
            "resolution-retransmission",  # Resolution Requests retransmitted with the same request ID (10.2)
            "error-indication",  # sends Error Indications (e.g. code 11 on a failed authentication)
        },
        daemons=("mgmtd", "zebra", "nhrpd"),  # FRR 10: zebra loops without mgmtd
        daemon_output_to_file=True,
        no_config_file=frozenset({"mgmtd"}),
        recipe=RootRecipe(
            suite="trixie",
            packages=("frr", "python3", "iproute2", "iptables", "kmod", "procps", "iputils-ping", "tcpdump"),
            frr_version="10.3",
        ),
    ),
}


def get(name: str) -> Implementation:
    """The implementation called ``name``; ValueError naming the known ones otherwise."""
    try:
        return IMPLEMENTATIONS[name]
    except KeyError:
        raise ValueError(f"unknown implementation {name!r} (known: {', '.join(IMPLEMENTATIONS)})") from None


def names() -> list[str]:
    return list(IMPLEMENTATIONS)
