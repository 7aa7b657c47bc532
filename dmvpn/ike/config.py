"""strongSwan (charon + swanctl) configuration for DMVPN's IPsec: text rendering only, no I/O.

One :class:`IkeConnection` is one IKEv2 peering with one CHILD_SA that protects GRE between two
NBMA addresses (traffic selectors ``<local>/32[gre]`` and ``<remote>/32[gre]``), authenticated
with a pre-shared key. :func:`swanctl_conf` renders the connections (and the PSK) for
``swanctl --load-all --file``; :func:`strongswan_conf` renders a private ``strongswan.conf`` (given
to charon through ``STRONGSWAN_CONF``) that loads a fixed plugin list instead of Debian's
``/etc/strongswan.d``, logs to a file, and puts the vici socket where we say.

Kernel interfaces:

``netlink``   charon installs the SAs in the kernel's XFRM (inside the lab guests, whose kernel has
              ESP). Transport or tunnel mode.
``libipsec``  charon's user-space ESP (kernel-libipsec plugin, a TUN device). It forces ESP in UDP
              (it fakes NAT detection) and refuses transport mode ("IPsec SA: unsupported mode"),
              so a peer of a libipsec charon must use tunnel mode. Used on the tester side, where
              the host kernel has no ESP (``ip xfrm state add ... proto esp`` -> "Requested type
              not found").
"""

from __future__ import annotations

from dataclasses import dataclass

#: ESP: AES-GCM-128 with a 16-byte ICV, the algorithm of the lab's manual SAs (``aes-gcm-128`` in
#: :mod:`dmvpn.wire.esp`); no PFS, so a CHILD_SA costs no extra DH under user-mode Linux.
ESP_PROPOSAL = "aes128gcm16"
IKE_PROPOSAL = "aes128gcm16-prfsha256-modp2048"
CHARON = "/usr/lib/ipsec/charon"
SWANCTL = "/usr/sbin/swanctl"

#: Plugins for PSK + AES-GCM + MODP, without Debian's include of /etc/strongswan.d (which would
#: load everything installed, e.g. kernel-netlink next to kernel-libipsec).
BASE_PLUGINS = ("random", "nonce", "openssl", "aes", "gcm", "sha1", "sha2", "hmac", "kdf", "gmp",
                "pem", "pkcs1", "x509", "pubkey", "socket-default", "vici")


@dataclass(frozen=True)
class IkeConnection:
    """One IKEv2 peering protecting GRE between ``local`` and ``remote`` (NBMA addresses)."""

    name: str
    local: str
    remote: str
    psk: str
    mode: str = "transport"  #: "transport" or "tunnel" (a libipsec peer needs tunnel)
    start_action: str = "none"  #: "none", "trap" (negotiate on the first packet) or "start"
    encap: bool = False  #: force ESP in UDP 4500 (NAT-T) although no NAT is detected
    esp_proposals: str = ESP_PROPOSAL
    ike_proposals: str = IKE_PROPOSAL
    rekey_time: str = "0"  #: "0": no CHILD_SA rekeying (a tester keeps its keys for the run)
    dpd_delay: str = "0"

    def __post_init__(self) -> None:
        if self.mode not in ("transport", "tunnel"):
            raise ValueError(f"mode is transport or tunnel, not {self.mode!r}")
        if self.start_action not in ("none", "trap", "start"):
            raise ValueError(f"start_action is none, trap or start, not {self.start_action!r}")
        for ch in "{}\n\"":
            if ch in self.psk:
                raise ValueError("the PSK must not contain braces, quotes or newlines")

    @property
    def child(self) -> str:
        return f"{self.name}-gre"


def swanctl_conf(connections: list[IkeConnection]) -> str:
    """``swanctl.conf`` text: the connections and one PSK secret per distinct key."""
    lines = ["# written by dmvpn.ike", "connections {"]
    for c in connections:
        lines += [
            f"  {c.name} {{",
            "    version = 2",
            f"    local_addrs = {c.local}",
            f"    remote_addrs = {c.remote}",
            f"    proposals = {c.ike_proposals}",
            f"    encap = {'yes' if c.encap else 'no'}",
            f"    dpd_delay = {c.dpd_delay}",
            "    rekey_time = 0",
            "    reauth_time = 0",
            "    mobike = no",
            "    unique = replace",
            "    local {", "      auth = psk", f"      id = {c.local}", "    }",
            "    remote {", "      auth = psk", f"      id = {c.remote}", "    }",
            "    children {",
            f"      {c.child} {{",
            f"        mode = {c.mode}",
            f"        local_ts = {c.local}/32[gre]",
            f"        remote_ts = {c.remote}/32[gre]",
            f"        esp_proposals = {c.esp_proposals}",
            f"        start_action = {c.start_action}",
            "        close_action = none",
            "        dpd_action = clear",
            f"        rekey_time = {c.rekey_time}",
            "        life_time = 0",
            "      }",
            "    }",
            "  }",
        ]
    lines += ["}", "secrets {"]
    for i, c in enumerate(connections):
        lines += [f"  ike-{i} {{", f"    id-local = {c.local}", f"    id-remote = {c.remote}",
                  f'    secret = "{c.psk}"', "  }"]
    lines += ["}"]
    return "\n".join(lines) + "\n"


def strongswan_conf(*, log_path: str, vici_socket: str, kernel: str = "netlink",
                    log_level: int = 1, keys_in_log: bool = False, install_routes: bool = False,
                    port: int = 500, port_nat_t: int = 4500) -> str:
    """A private ``strongswan.conf`` for charon (pass its path in ``STRONGSWAN_CONF``).

    ``keys_in_log`` raises the CHILD_SA subsystem to level 4, where charon 5.9 logs the derived
    ESP keys ("encryption initiator key ..."): Debian's strongSwan has no save-keys plugin, and this
    is how a tester learns the keys (see :mod:`dmvpn.ike.keys`).
    """
    if kernel not in ("netlink", "libipsec"):
        raise ValueError(f"kernel is netlink or libipsec, not {kernel!r}")
    plugins = list(BASE_PLUGINS)
    if kernel == "libipsec":
        # kernel-libipsec does the ESP; kernel-netlink is still needed for addresses and routes,
        # and must come after it (the first kernel-ipsec interface wins).
        plugins = ["kernel-libipsec", "kernel-netlink"] + plugins
    else:
        plugins = ["kernel-netlink"] + plugins
    chd = 4 if keys_in_log else log_level
    return "\n".join([
        "# written by dmvpn.ike",
        "charon {",
        f"  load = {' '.join(plugins)}",
        f"  port = {port}",
        f"  port_nat_t = {port_nat_t}",
        f"  install_routes = {'yes' if install_routes else 'no'}",
        # kernel-libipsec routes the peer into its TUN device (table 220) whatever install_routes
        # says: that would swallow the tester's own ESP and every other packet to the peer. Its
        # rule goes after "main" (32766), which routes every lab address first.
        *([] if install_routes or kernel != "libipsec" else ["  routing_table = 220", "  routing_table_prio = 40000"]),
        "  install_virtual_ip = no",
        "  retransmit_tries = 3",
        "  retransmit_timeout = 1.0",
        "  retransmit_base = 1.4",
        "  plugins {",
        "    vici {", f"      socket = unix://{vici_socket}", "    }",
        # A GRE selector between the two IKE peers "conflicts with IKE traffic" unless allowed
        # (kernel-libipsec refuses the policy otherwise: "unable to install IPsec policies").
        "    kernel-libipsec {", "      allow_peer_ts = yes", "    }",
        "  }",
        "  filelog {",
        "    dmvpn {",
        f"      path = {log_path}",
        "      time_format = %T",
        "      ike_name = yes",
        "      append = yes",
        "      flush_line = yes",
        f"      default = {log_level}",
        f"      chd = {chd}",
        "    }",
        "  }",
        "  syslog {", "    daemon {", "      default = -1", "    }", "  }",
        "}",
        "swanctl {",  # swanctl reads the same file: only what loading PSK connections needs
        "  load = random nonce openssl pem pkcs1 pkcs8 x509 pubkey",
        "}",
        "",
    ])
