"""Testbed files: the same suites against external gear (a Cisco router, another FRR, anything).

A testbed is a YAML file::

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
    tester:
      namespace: null                    # network namespace to send from (null: this one)
      nbma_pool: [192.0.2.128/25]        # one address per emulated spoke, routed to the tester
      tunnel_pool: [10.255.0.128/25]
      nat_pool: [203.0.113.0/24]         # optional: "public" addresses for NAT cases
      allowed_prefixes: []               # optional: more destinations the interlock may allow
    ipsec:                               # optional: manual SAs toward the DUT (AES-GCM, transport mode)
      tester_address: 192.0.2.250        # the tester's end of the SAs (routed to the tester)
      nat_t: false                       # ESP in UDP 4500 (RFC 3948)
      spi_out: 0x1001
      spi_in: 0x2001
      aead: rfc4106(gcm(aes))
      key_out: 0x...                     # hex, key + 4-byte salt
      key_in: 0x...
    management:                          # optional: read the DUT's state
      kind: frr-vtysh                    # frr-vtysh (over ssh) or cisco-ios (netmiko)
      host: 192.0.2.1
      username: admin
      port: 22

Everything is checked before anything is sent: a bad file is refused with one line naming the key
and the problem. The interlock allows only the DUT's NBMA address, the tester's pools and the
extra prefixes the file names.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dmvpn.transport import GreSocket, Interlock

from . import Dut, DutInfo, address_pool
from .capability import Capability

#: what a testbed file may declare (the others follow from its other keys: ipsec, management)
KNOWN_CAPABILITIES = frozenset({
    Capability.AUTHENTICATION, Capability.REDIRECT, Capability.SHORTCUT, Capability.NAT, Capability.PURGE,
    Capability.IPV6, Capability.ESP,
})


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


@dataclass(frozen=True)
class Management:
    kind: str
    host: str
    username: str = ""
    port: int = 22


class TestbedDut(Dut):
    """An external DUT described by a testbed file."""

    __test__ = False

    def __init__(self, info: DutInfo, namespace: str | None, management: Management | None, ipsec: dict[str, Any]) -> None:
        super().__init__(info)
        self.namespace = namespace
        self.management = management
        self.ipsec = ipsec

    @classmethod
    def from_file(cls, path: str | Path) -> "TestbedDut":
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
        return cls.from_dict(data, name)

    @classmethod
    def from_dict(cls, data: dict, name: str = "testbed") -> "TestbedDut":
        r = _Reader(name, data)
        extra = sorted(set(data) - {"dut", "tester", "ipsec", "management"})
        if extra:
            raise _fail(name, extra[0], "unknown section (known: dut, tester, ipsec, management)")
        dut, tester = r.section("dut"), r.section("tester")
        r.unknown(dut, "dut", {"name", "implementation", "role", "nbma", "tunnel", "gre_key", "holding_time", "authentication", "capabilities"})
        r.unknown(tester, "tester", {"namespace", "interface", "nbma_pool", "tunnel_pool", "nat_pool", "allowed_prefixes"})
        nbma = r.get(dut, "dut", "nbma", "ipv4", required=True)
        tunnel = r.get(dut, "dut", "tunnel", "ip", required=True)
        password = r.get(dut, "dut", "authentication", "str")
        if password is not None and len(password.encode()) > 8:
            raise _fail(name, "dut.authentication", "Cisco plaintext passwords are at most 8 bytes")
        nbma_pool = r.get(tester, "tester", "nbma_pool", "nets", required=True)
        tunnel_pool = r.get(tester, "tester", "tunnel_pool", "nets", required=True)
        nat_pool = r.get(tester, "tester", "nat_pool", "nets", default=[])
        extra_allowed = r.get(tester, "tester", "allowed_prefixes", "nets", default=[])
        tester_nbma = address_pool(*nbma_pool, skip={nbma})
        if not tester_nbma:
            raise _fail(name, "tester.nbma_pool", "holds no usable address")
        tester_proto = address_pool(*tunnel_pool, skip={tunnel})
        if not tester_proto:
            raise _fail(name, "tester.tunnel_pool", "holds no usable address")
        info = DutInfo(
            name=r.get(dut, "dut", "name", "str", default=f"DUT at {nbma}"),
            implementation=r.get(dut, "dut", "implementation", "str", default="unknown"),
            role=r.get(dut, "dut", "role", "role", required=True),
            nbma=nbma,
            proto=tunnel,
            gre_key=r.get(dut, "dut", "gre_key", "int32"),
            holding_time=r.get(dut, "dut", "holding_time", "holdtime", default=7200),
            password=password.encode() if password is not None else None,
            tester_nbma=tester_nbma,
            tester_proto=tester_proto,
            nat_nbma=address_pool(*nat_pool),
            capabilities=r.get(dut, "dut", "capabilities", "capabilities", default=frozenset()),
            allowed_prefixes=tuple([f"{nbma}/32", *nbma_pool, *nat_pool, *extra_allowed]),
        )
        namespace = r.get(tester, "tester", "namespace", "str")
        ipsec: dict[str, Any] = {}
        if "ipsec" in data:
            section = r.section("ipsec")
            r.unknown(section, "ipsec", {"tester_address", "spi_out", "spi_in", "aead", "key_out", "key_in", "nat_t"})
            ipsec = {
                "tester_address": r.get(section, "ipsec", "tester_address", "ipv4", required=True),
                "nat_t": bool(section.get("nat_t", False)),
                "spi_out": r.get(section, "ipsec", "spi_out", "int32", required=True),
                "spi_in": r.get(section, "ipsec", "spi_in", "int32", required=True),
                "aead": r.get(section, "ipsec", "aead", "str", default="rfc4106(gcm(aes))"),
                "key_out": r.get(section, "ipsec", "key_out", "hex", required=True),
                "key_in": r.get(section, "ipsec", "key_in", "hex", required=True),
            }
            for key in ("spi_out", "spi_in"):
                if ipsec[key] < 256:
                    raise _fail(name, f"ipsec.{key}", "SPI values 0-255 are reserved (RFC 4303)")
            if ipsec["aead"] != "rfc4106(gcm(aes))":
                raise _fail(name, "ipsec.aead", f"{ipsec['aead']!r}: only rfc4106(gcm(aes)) is supported for testbed SAs")
            for key in ("key_out", "key_in"):
                if len(ipsec[key]) not in (20, 36):
                    raise _fail(name, f"ipsec.{key}", "AES-GCM needs a 16- or 32-byte key plus a 4-byte salt")
        management = None
        if "management" in data:
            section = r.section("management")
            r.unknown(section, "management", {"kind", "host", "username", "port"})
            kind = r.get(section, "management", "kind", "str", required=True)
            if kind not in ("frr-vtysh", "cisco-ios"):
                raise _fail(name, "management.kind", f"{kind!r} is not frr-vtysh or cisco-ios")
            management = Management(
                kind,
                r.get(section, "management", "host", "ip", required=True),
                r.get(section, "management", "username", "str", default=""),
                int(r.get(section, "management", "port", "int32", default=22)),
            )
        if ipsec:
            extra_caps = {Capability.ESP, Capability.ANTI_REPLAY} | ({Capability.NAT_T} if ipsec["nat_t"] else set())
            info = DutInfo(**{**info.__dict__, "capabilities": info.capabilities | extra_caps,
                              "allowed_prefixes": info.allowed_prefixes})
        return cls(info, namespace, management, ipsec)

    def open_link(self) -> GreSocket:
        return GreSocket(Interlock(self.info.allowed_prefixes), netns=self.namespace)

    # -- ESP with the SAs the file names (capability "esp") -------------------------------------

    def esp_tester(self, nat_t: bool = False) -> str:
        if not self.ipsec:
            raise NotImplementedError("the testbed file has no ipsec section")
        return self.ipsec["tester_address"]

    def esp_link(self):
        if not self.ipsec:
            raise NotImplementedError("the testbed file has no ipsec section")
        if getattr(self, "_esp_link", None) is None:
            from dmvpn.transport.esp import EspLink
            from dmvpn.wire.esp import EspSA

            c = self.ipsec
            algorithm = "aes-gcm-128" if len(c["key_out"]) == 20 else "aes-gcm-256"
            nat_t = (4500, 4500) if c["nat_t"] else None
            outbound = {(c["tester_address"], self.info.nbma): EspSA(c["spi_out"], algorithm, c["key_out"], nat_t=nat_t)}
            inbound = {c["spi_in"]: EspSA(c["spi_in"], algorithm, c["key_in"], nat_t=nat_t)}
            self._esp_link = EspLink(Interlock(self.info.allowed_prefixes), outbound, inbound, netns=self.namespace)
        return self._esp_link

    def set_evidence(self, link, recorder) -> None:
        super().set_evidence(link, recorder)
        if getattr(self, "_esp_link", None) is not None:
            self._esp_link.recorder = recorder

    def cache(self) -> list[dict] | None:
        m = self.management
        if m is None:
            return None
        if m.kind == "frr-vtysh":
            out = self._ssh(["vtysh", "-c", "show ip nhrp cache json"])
            table = json.loads(out).get("table", [])
            return [{"proto": e.get("protocol"), "nbma": e.get("nbma"), "claimed_nbma": e.get("claimed_nbma"), "type": e.get("type")} for e in table]
        return None  # Cisco: `show ip nhrp` parsing is not there yet; the cases note the state as unavailable

    def _ssh(self, argv: list[str]) -> str:
        m = self.management
        ssh = shutil.which("ssh")
        if ssh is None:
            raise RuntimeError("ssh not found (install openssh-client) for management access")
        target = f"{m.username}@{m.host}" if m.username else m.host
        proc = subprocess.run(
            [ssh, "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-p", str(m.port), target, *argv],
            capture_output=True, text=True, timeout=30,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"ssh {target}: {proc.stderr.strip()[:200]}")
        return proc.stdout
