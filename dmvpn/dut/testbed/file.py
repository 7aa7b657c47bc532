"""Testbed files: the same suites against external gear (a Cisco router, another FRR, anything).

A testbed is a YAML file; every key below is used, and any other key is refused::

    dut:
      name: Cisco C8000v hub             # for reports
      implementation: cisco-ios-xe-17    # picks suites/expectations/<implementation>.yaml
      role: hub                          # hub (the suite plays spokes) or spoke (the suite plays the NHS)
      nbma: 192.0.2.1
      tunnel: 10.255.0.1
      gre_key: 42                        # null when the tunnel has no key
      holding_time: 7200
      authentication: null               # Cisco plaintext password, when the DUT uses one
      capabilities: [redirect, nat]      # optional features the DUT has (authentication, ...)
      recovery_timeout: 120              # seconds to wait for a DUT that went down to come back
      reply_window: 2.0                  # how long an answer that should come may take (s)
      quiet_window: 1.5                  # how long silence must last to count as a discard (s)
    tester:
      namespace: null                    # network namespace to send from (null: this one)
      interface: eth1                    # optional: send and receive on this interface only (SO_BINDTODEVICE)
      nbma_pool: [192.0.2.128/25]        # one address per emulated spoke, routed to the tester
      tunnel_pool: [10.255.0.128/25]
      nat_pool: [203.0.113.0/24]         # optional: "public" addresses for NAT cases
      allowed_prefixes: []               # optional: more destinations the interlock may allow
    safety:                              # optional
      allow_public_addresses: false      # true lets NBMA addresses outside private/documentation space
      reason: null                       #   through, and then needs a reason (recorded in the plan)
    spoke:                               # role spoke only: the tester plays the DUT spoke's NHS
      nhs_nbma: 192.0.2.100              # the NHS the DUT is configured with (a tester address)
      nhs_tunnel: 10.255.0.100
      lan: 10.103.0.0/24                 # behind the DUT (what it answers resolutions for)
      peer_lans: 10.200.0.0/16           # routed by the DUT via its NHS (the emulated peers' LANs)
      retry_window: 8                    # optional: how long a retransmission may take (s)
      shortcut_holding_time: 10          # optional: holding time of the shortcuts the expiry case makes
      renewal_holding_time: 10           # optional: the same for the renewal case
      register: [...]                    # management commands that make the DUT register afresh
      send_data: [...]                   # management commands that make it send {count} packets to {dst}
    ipsec:                               # optional: manual SAs toward the DUT (AES-GCM, transport mode)
      tester_address: 192.0.2.250        # the tester's end of the SAs (routed to the tester)
      nat_t: false                       # ESP in UDP 4500 (RFC 3948)
      spi_out: 0x1001
      spi_in: 0x2001
      aead: rfc4106(gcm(aes))
      key_out: 0x...                     # hex, key + 4-byte salt
      key_in: 0x...
    management:                          # optional: read the DUT's state and health over SSH
      kind: frr-vtysh                    # frr-vtysh (FRR or VyOS: vtysh -c '...' json) or cisco-ios
      host: 192.0.2.1
      username: admin
      port: 22
      password_env: null                 # name of an environment variable holding the password
      key_files: []                      # private keys (default: the user's keys and agent)
      known_hosts: null                  # a known_hosts file (default: ~/.ssh/known_hosts)
      verify_host_key: true              # false: accept any host key (a lab bench only)
      vtysh: [vtysh]                     # frr-vtysh: the command, e.g. [sudo, vtysh]
      timeout: 30                        # seconds per command

Management commands (spoke.register, spoke.send_data) are CLI lines for the management kind: vtysh
commands for frr-vtysh (one vtysh call per list, arguments quoted) or `{shell: "..."}` for a line
run in the remote shell; IOS lines for cisco-ios (one line: an exec command; several: fed to a shell
session, e.g. configuration). They may name {dst}, {count}, {src} (the DUT's LAN address), {nhs_nbma}
and {nhs_tunnel}; values are quoted for the shell. A spoke testbed without `register` cannot run
the spoke cases (each starts by making the DUT register): its run lists them as not applicable.

Everything is checked before anything is sent: a bad file is refused with one line naming the key
and the problem. The interlock allows only the DUT's NBMA address, the tester's pools and the
extra prefixes the file names; all of them must lie in private or documentation space unless the
file says `safety.allow_public_addresses: true` with a reason.
"""


from __future__ import annotations

import ipaddress
import string
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from dmvpn.dut.capability import Capability

from dmvpn.dut import DutInfo, address_pool

#: what a testbed file may declare (the others follow from its other keys: ipsec, management, spoke)
KNOWN_CAPABILITIES = frozenset({
    Capability.AUTHENTICATION, Capability.REDIRECT, Capability.SHORTCUT, Capability.NAT, Capability.PURGE,
    Capability.IPV6, Capability.ESP,
})

#: where test traffic may go and come from without the file saying otherwise: private space
#: (RFC 1918, RFC 6598 shared, RFC 2544 benchmarking, IPv6 ULA) and documentation (RFC 5737, RFC 3849)
SAFE_SPACE = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "198.18.0.0/15",
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "fc00::/7", "2001:db8::/32"))

#: what management commands may name
PLACEHOLDERS = frozenset({"dst", "count", "src", "nhs_nbma", "nhs_tunnel"})

MANAGEMENT_KINDS = ("frr-vtysh", "cisco-ios")


class TestbedError(ValueError):
    """A testbed file that cannot be used; the message is one line naming the key."""

    __test__ = False  # not a pytest class


def _fail(path: str, key: str, problem: str) -> TestbedError:
    return TestbedError(f"{path}: {key}: {problem}")


class _Reader:
    def __init__(self, path: str, data: dict) -> None:
        self.path = path
        self.data = data

    def section(self, name: str, required: bool = True) -> dict:
        value = self.data.get(name)
        if value is None:
            if required:
                raise _fail(self.path, name, "missing section")
            return {}
        if not isinstance(value, dict):
            raise _fail(self.path, name, f"must be a mapping, not {type(value).__name__}")
        return value

    def get(self, section: dict, prefix: str, key: str, kind: str, required: bool = False, default: Any = None) -> Any:
        full = f"{prefix}.{key}"
        if key not in section or section[key] is None:
            if required:
                raise _fail(self.path, full, "missing")
            return default
        value = section[key]
        try:
            return _convert(value, kind)
        except (ValueError, TypeError) as exc:
            raise _fail(self.path, full, f"{value!r} {exc}") from None

    def unknown(self, section: dict, prefix: str, allowed: set[str]) -> None:
        extra = sorted(set(section) - allowed)
        if extra:
            raise _fail(self.path, f"{prefix}.{extra[0]}", f"unknown key (known: {', '.join(sorted(allowed))})")


def _convert(value: Any, kind: str) -> Any:
    if kind == "ipv4":
        return str(ipaddress.IPv4Address(str(value)))
    if kind == "ip":
        return str(ipaddress.ip_address(str(value)))
    if kind == "nets":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise TypeError("is not a list of prefixes")
        return [str(ipaddress.ip_network(str(v), strict=False)) for v in value]
    if kind == "int32":
        number = int(value, 0) if isinstance(value, str) else int(value)
        if not 0 <= number < 2**32:
            raise ValueError("is not a 32-bit unsigned number")
        return number
    if kind == "holdtime":
        number = int(value)
        if not 1 <= number <= 65535:
            raise ValueError("is not a holding time in seconds (1-65535)")
        return number
    if kind == "role":
        if value not in ("hub", "spoke"):
            raise ValueError("is not a role (hub or spoke)")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise TypeError("is not true or false")
        return value
    if kind == "seconds":
        number = float(value)
        if not 0 < number <= 3600:
            raise ValueError("is not a number of seconds (0-3600)")
        return number
    if kind == "strs":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
            raise TypeError("is not a list of text")
        return [str(v) for v in value]
    if kind == "str":
        if not isinstance(value, (str, int)):
            raise TypeError("is not text")
        return str(value)
    if kind == "hex":
        text = str(value)
        return bytes.fromhex(text[2:] if text.lower().startswith("0x") else text)
    if kind == "capabilities":
        if not isinstance(value, list):
            raise TypeError("is not a list")
        unknown = [c for c in value if c not in KNOWN_CAPABILITIES]
        if unknown:
            raise ValueError(f"names unknown capabilities {unknown} (known: {', '.join(sorted(KNOWN_CAPABILITIES))})")
        return frozenset(Capability(c) for c in value)
    raise AssertionError(kind)



def _safe(net: str) -> bool:
    n = ipaddress.ip_network(net, strict=False)
    return any(n.version == s.version and n.subnet_of(s) for s in SAFE_SPACE)


@dataclass(frozen=True)
class ManagementSpec:
    kind: str
    host: str
    username: str = ""
    port: int = 22
    password_env: str | None = None
    key_files: tuple[str, ...] = ()
    known_hosts: str | None = ""  #: "" the default file, None: no verification
    vtysh: tuple[str, ...] = ("vtysh",)
    timeout: float = 30.0


@dataclass(frozen=True)
class Testbed:
    """A testbed file, checked: everything a TestbedDut needs; nothing sent yet."""

    path: str
    info: DutInfo
    namespace: str | None = None
    interface: str | None = None
    management: ManagementSpec | None = None
    ipsec: dict[str, Any] = field(default_factory=dict)
    register: tuple = ()  #: spoke: management commands that make it register afresh
    send_data: tuple = ()  #: spoke: management commands that make it send data
    recovery_timeout: float = 120.0
    public_reason: str | None = None  #: why public addresses are allowed (None: they are not)


def load(path: str | Path) -> Testbed:
    name = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise TestbedError(f"{name}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise TestbedError(f"{name}: not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise TestbedError(f"{name}: must be a YAML mapping with 'dut' and 'tester' sections")
    return parse(data, name)


SECTIONS = ("dut", "tester", "safety", "spoke", "ipsec", "management")


def _commands(r: _Reader, section: dict, key: str, kind: str | None) -> tuple:
    full = f"spoke.{key}"
    value = section.get(key)
    if value is None:
        return ()
    if isinstance(value, (str, dict)):
        value = [value]
    if not isinstance(value, list) or not value:
        raise _fail(r.path, full, "is not a list of management commands")
    out = []
    for item in value:
        if isinstance(item, dict):
            if set(item) != {"shell"} or not isinstance(item["shell"], str):
                raise _fail(r.path, full, f"{item!r}: a command is a CLI line or {{shell: LINE}}")
            if kind != "frr-vtysh":
                raise _fail(r.path, full, "{shell: ...} commands need management.kind frr-vtysh")
            line = item["shell"]
        elif isinstance(item, str):
            line = item
        else:
            raise _fail(r.path, full, f"{item!r} is not a command line")
        try:
            names = {f for _, f, _, _ in string.Formatter().parse(line) if f is not None}
        except ValueError as exc:
            raise _fail(r.path, full, f"{line!r}: {exc}") from None
        unknown = sorted(names - PLACEHOLDERS)
        if unknown:
            raise _fail(r.path, full, f"{line!r} names {{{unknown[0]}}} (known: {', '.join(sorted(PLACEHOLDERS))})")
        out.append(item)
    return tuple(out)


def parse(data: dict, name: str = "testbed") -> Testbed:
    r = _Reader(name, data)
    extra_sections = sorted(set(data) - set(SECTIONS))
    if extra_sections:
        raise _fail(name, extra_sections[0], f"unknown section (known: {', '.join(SECTIONS)})")
    dut, tester = r.section("dut"), r.section("tester")
    r.unknown(dut, "dut", {"name", "implementation", "role", "nbma", "tunnel", "gre_key", "holding_time", "authentication",
                           "capabilities", "recovery_timeout", "reply_window", "quiet_window"})
    r.unknown(tester, "tester", {"namespace", "interface", "nbma_pool", "tunnel_pool", "nat_pool", "allowed_prefixes"})
    nbma = r.get(dut, "dut", "nbma", "ipv4", required=True)
    tunnel = r.get(dut, "dut", "tunnel", "ip", required=True)
    role = r.get(dut, "dut", "role", "role", required=True)
    password = r.get(dut, "dut", "authentication", "str")
    if password is not None and len(password.encode()) > 8:
        raise _fail(name, "dut.authentication", "Cisco plaintext passwords are at most 8 bytes")
    nbma_pool = r.get(tester, "tester", "nbma_pool", "nets", required=True)
    tunnel_pool = r.get(tester, "tester", "tunnel_pool", "nets", required=True)
    nat_pool = r.get(tester, "tester", "nat_pool", "nets", default=[])
    extra_allowed = r.get(tester, "tester", "allowed_prefixes", "nets", default=[])
    interface = r.get(tester, "tester", "interface", "str")
    if interface is not None and not (0 < len(interface) < 16 and "/" not in interface and not any(c.isspace() for c in interface)):
        raise _fail(name, "tester.interface", f"{interface!r} is not an interface name")
    tester_nbma = address_pool(*nbma_pool, skip={nbma})
    if not tester_nbma:
        raise _fail(name, "tester.nbma_pool", "holds no usable address")
    tester_proto = address_pool(*tunnel_pool, skip={tunnel})
    if not tester_proto:
        raise _fail(name, "tester.tunnel_pool", "holds no usable address")

    # -- safety: no test traffic to or from public space unless the file says so --------------
    safety = r.section("safety", required=False)
    r.unknown(safety, "safety", {"allow_public_addresses", "reason"})
    allow_public = r.get(safety, "safety", "allow_public_addresses", "bool", default=False)
    reason = r.get(safety, "safety", "reason", "str")
    if allow_public and not (reason and reason.strip()):
        raise _fail(name, "safety.reason", "missing: allow_public_addresses needs a reason (whose addresses, and why)")
    if reason is not None and not allow_public:
        raise _fail(name, "safety.reason", "given without allow_public_addresses: true")

    def check_space(key: str, nets: list[str]) -> None:
        if allow_public:
            return
        for net in nets:
            if not _safe(net):
                raise _fail(name, key, f"{net} is public address space: test traffic goes only to and from private or "
                                       "documentation space unless safety.allow_public_addresses is true (with a reason)")

    check_space("dut.nbma", [nbma])
    check_space("tester.nbma_pool", nbma_pool)
    check_space("tester.nat_pool", nat_pool)
    check_space("tester.allowed_prefixes", extra_allowed)

    management = None
    if "management" in data:
        section = r.section("management")
        r.unknown(section, "management", {"kind", "host", "username", "port", "password_env", "key_files", "known_hosts",
                                          "verify_host_key", "vtysh", "timeout"})
        kind = r.get(section, "management", "kind", "str", required=True)
        if kind not in MANAGEMENT_KINDS:
            raise _fail(name, "management.kind", f"{kind!r} is not {' or '.join(MANAGEMENT_KINDS)}")
        verify = r.get(section, "management", "verify_host_key", "bool", default=True)
        known_hosts = r.get(section, "management", "known_hosts", "str")
        if known_hosts is not None and not verify:
            raise _fail(name, "management.known_hosts", "given with verify_host_key: false")
        if known_hosts is not None and not Path(known_hosts).expanduser().is_file():
            raise _fail(name, "management.known_hosts", f"{known_hosts!r} is not a file")
        key_files = r.get(section, "management", "key_files", "strs", default=[])
        for key_file in key_files:
            if not Path(key_file).expanduser().is_file():
                raise _fail(name, "management.key_files", f"{key_file!r} is not a file")
        if "vtysh" in section and kind != "frr-vtysh":
            raise _fail(name, "management.vtysh", "only for kind frr-vtysh")
        vtysh = r.get(section, "management", "vtysh", "strs", default=["vtysh"])
        port = r.get(section, "management", "port", "int32", default=22)
        if not 0 < port < 65536:
            raise _fail(name, "management.port", f"{port} is not a TCP port")
        management = ManagementSpec(
            kind, r.get(section, "management", "host", "ip", required=True),
            r.get(section, "management", "username", "str", default=""), port,
            r.get(section, "management", "password_env", "str"), tuple(key_files),
            (known_hosts or "") if verify else None,
            tuple(vtysh), r.get(section, "management", "timeout", "seconds", default=30.0))

    capabilities = set(r.get(dut, "dut", "capabilities", "capabilities", default=frozenset()))
    extra: dict[str, Any] = {}
    register: tuple = ()
    send_data: tuple = ()
    if "spoke" in data:
        section = r.section("spoke")
        if role != "spoke":
            raise _fail(name, "spoke", "only for dut.role spoke")
        r.unknown(section, "spoke", {"nhs_nbma", "nhs_tunnel", "lan", "peer_lans", "retry_window", "register", "send_data",
                                     "shortcut_holding_time", "renewal_holding_time"})
        nhs_nbma = r.get(section, "spoke", "nhs_nbma", "ipv4", required=True)
        check_space("spoke.nhs_nbma", [nhs_nbma])
        nhs_tunnel = r.get(section, "spoke", "nhs_tunnel", "ip", required=True)
        lan = r.get(section, "spoke", "lan", "nets")
        if lan is not None and len(lan) != 1:
            raise _fail(name, "spoke.lan", "must be one prefix")
        peer_lans = r.get(section, "spoke", "peer_lans", "nets", required=True)
        if len(peer_lans) != 1 or ipaddress.ip_network(peer_lans[0]).prefixlen > 23:
            raise _fail(name, "spoke.peer_lans", "must be one prefix of /23 or shorter (the cases carve /24s from it)")
        extra = {"nhs_nbma": nhs_nbma, "nhs_proto": nhs_tunnel, "lan": lan[0] if lan else None, "peer_lans": peer_lans[0],
                 "retry_window": r.get(section, "spoke", "retry_window", "seconds", default=8.0)}
        for key in ("shortcut_holding_time", "renewal_holding_time"):
            if section.get(key) is not None:
                extra[key] = r.get(section, "spoke", key, "holdtime")
        for key in ("register", "send_data"):
            if section.get(key) is not None and management is None:
                raise _fail(name, f"spoke.{key}", "needs a management section (the commands run there)")
        kind = management.kind if management else None
        register = _commands(r, section, "register", kind)
        send_data = _commands(r, section, "send_data", kind)
        if send_data and lan is None:
            raise _fail(name, "spoke.lan", "missing: send_data sends from the DUT's LAN address ({src})")
        if register:
            capabilities.add(Capability.TRIGGER_REGISTRATION)
        if send_data:
            capabilities.add(Capability.SEND_DATA)
        if management is not None:
            capabilities.add(Capability.CACHE)
    elif role == "spoke":
        raise _fail(name, "spoke", "missing section: a spoke DUT needs nhs_nbma, nhs_tunnel and peer_lans (the tester plays its NHS)")

    allowed = [f"{nbma}/32", *nbma_pool, *nat_pool, *extra_allowed]
    if extra and not any(ipaddress.ip_address(extra["nhs_nbma"]) in ipaddress.ip_network(n) for n in allowed):
        raise _fail(name, "spoke.nhs_nbma", f"{extra['nhs_nbma']} is in neither tester.nbma_pool nor tester.allowed_prefixes "
                                            "(the tester answers as the NHS from it)")
    info = DutInfo(
        name=r.get(dut, "dut", "name", "str", default=f"DUT at {nbma}"),
        implementation=r.get(dut, "dut", "implementation", "str", default="unknown"),
        role=role,
        nbma=nbma,
        proto=tunnel,
        gre_key=r.get(dut, "dut", "gre_key", "int32"),
        holding_time=r.get(dut, "dut", "holding_time", "holdtime", default=7200),
        password=password.encode() if password is not None else None,
        tester_nbma=tuple(a for a in tester_nbma if a != extra.get("nhs_nbma")),
        tester_proto=tuple(a for a in tester_proto if a != extra.get("nhs_proto")),
        nat_nbma=address_pool(*nat_pool),
        capabilities=frozenset(capabilities),
        allowed_prefixes=tuple(allowed),
        reply_window=r.get(dut, "dut", "reply_window", "seconds", default=2.0),
        quiet_window=r.get(dut, "dut", "quiet_window", "seconds", default=1.5),
        extra=extra,
    )

    ipsec: dict[str, Any] = {}
    if "ipsec" in data:
        section = r.section("ipsec")
        r.unknown(section, "ipsec", {"tester_address", "spi_out", "spi_in", "aead", "key_out", "key_in", "nat_t"})
        ipsec = {
            "tester_address": r.get(section, "ipsec", "tester_address", "ipv4", required=True),
            "nat_t": r.get(section, "ipsec", "nat_t", "bool", default=False),
            "spi_out": r.get(section, "ipsec", "spi_out", "int32", required=True),
            "spi_in": r.get(section, "ipsec", "spi_in", "int32", required=True),
            "aead": r.get(section, "ipsec", "aead", "str", default="rfc4106(gcm(aes))"),
            "key_out": r.get(section, "ipsec", "key_out", "hex", required=True),
            "key_in": r.get(section, "ipsec", "key_in", "hex", required=True),
        }
        check_space("ipsec.tester_address", [ipsec["tester_address"]])
        for key in ("spi_out", "spi_in"):
            if ipsec[key] < 256:
                raise _fail(name, f"ipsec.{key}", "SPI values 0-255 are reserved (RFC 4303)")
        if ipsec["aead"] != "rfc4106(gcm(aes))":
            raise _fail(name, "ipsec.aead", f"{ipsec['aead']!r}: only rfc4106(gcm(aes)) is supported for testbed SAs")
        for key in ("key_out", "key_in"):
            if len(ipsec[key]) not in (20, 36):
                raise _fail(name, f"ipsec.{key}", "AES-GCM needs a 16- or 32-byte key plus a 4-byte salt")
        extra_caps = {Capability.ESP, Capability.ANTI_REPLAY} | ({Capability.NAT_T} if ipsec["nat_t"] else set())
        info = replace(info, capabilities=info.capabilities | extra_caps)

    return Testbed(
        path=name, info=info, namespace=r.get(tester, "tester", "namespace", "str"), interface=interface,
        management=management, ipsec=ipsec, register=register, send_data=send_data,
        recovery_timeout=r.get(dut, "dut", "recovery_timeout", "seconds", default=120.0),
        public_reason=reason if allow_public else None,
    )
