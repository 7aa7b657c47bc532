"""What the TRex profiles in profiles/ share: tunables, the address plan, frames, lock-step streams.

Scapy-free and TRex-free (standard library + dmvpn.wire.checksum): it is imported inside the TRex
client's process as well as under the local engine's shim. It never imports an STL API itself;
profiles pass the STL classes they got from `trex_stl_lib.api` where needed.

Address plan (RFC 5737 documentation ranges outside, RFC 1918 inside the tunnel only):
  hub NBMA 192.0.2.1, hub tunnel 10.255.0.1;
  spoke i (0-based) NBMA: the i-th address of `nbma_pools` (default 192.0.2.128-254, then
  198.51.100.1-254, then 203.0.113.1-254: 635 spokes), tunnel: the i-th host of `tunnel_net` that
  is not the hub (default 10.255.0.0/24: 10.255.0.2 ... 253 spokes), LAN 10.(100+i).0.0/24
  ("10.1NN", spokes 0-154). Larger storms need wider pools, given as tunables: the plan refuses to
  repeat an address rather than silently making two spokes one.

Lock-step value lists (how a storm of precomputed packets becomes ONE TRex stream): the frames of a
storm have the same length and differ only in a few fields (outer source and IPv4 checksum, NHRP
request ID, source NBMA/protocol address, NHRP checksum). `lockstep_fields` finds those bytes and
`lockstep_vm` turns each differing field into an `STLVmFlowVar(value_list=[...], op="inc")` with an
`STLVmWrFlowVar` at its offset. All variables have the same list length and step, so TRex's
field engine walks them in lock step: packet k of the stream is exactly precomputed frame k,
checksums included, although the field engine itself cannot compute an NHRP checksum. TRex limits
a value list to 65 535 entries and a stream's variables to 64 bytes within the first 512 bytes of
the packet; `lockstep_chunks` splits longer storms into chained streams.
"""

from __future__ import annotations

import argparse
import ipaddress
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from dmvpn.wire.checksum import inet_checksum

HUB_NBMA = "192.0.2.1"
HUB_TUNNEL = "10.255.0.1"
DEFAULT_NBMA_POOLS = "192.0.2.128-192.0.2.254,198.51.100.1-198.51.100.254,203.0.113.1-203.0.113.254"
DEFAULT_TUNNEL_NET = "10.255.0.0/24"
DEFAULT_GRE_KEY = 42
DEFAULT_SRC_MAC = "02:00:00:00:00:01"
DEFAULT_DST_MAC = "02:00:00:00:00:02"
ETH_HEADER_LEN = 14
ETH_P_IP = 0x0800
#: TRex's field engine limits (trex-core StreamVm: svMAX_FLOW_VAR, svMAX_PACKET_OFFSET_CHANGE,
#: value_list length is a uint16).
TREX_MAX_VAR_BYTES = 64
TREX_MAX_WRITE_OFFSET = 512
TREX_MAX_VALUE_LIST = 0xFFFF
#: The tunnel MTU every DMVPN config uses (`ip mtu 1400`): the biggest inner packet.
TUNNEL_MTU = 1400
#: Inner IPv4 packet sizes for the named size choices; "imix" is the simple 7:4:1 IMIX with its
#: 1500-byte packet replaced by the tunnel MTU (1400), since DMVPN spokes never hand GRE more.
IMIX = ((64, 7), (576, 4), (TUNNEL_MTU, 1))


# --------------------------------------------------------------------------------------------------
# Tunables


@dataclass(frozen=True)
class Tunable:
    default: Any
    type: Callable[[str], Any]
    help: str


def boolean(text: str | bool) -> bool:
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def integer(text: str | int) -> int:
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    return int(str(text), 0)


def optional_text(text: str | None) -> str | None:
    if text is None:
        return None
    return None if str(text).lower() in ("", "none") else str(text)


def parse_tunables(
    spec: dict[str, Tunable], tunables: Sequence[str] | None, kwargs: dict[str, Any], prog: str = "profile"
) -> SimpleNamespace:
    """Values for `spec` from TRex 3 argv-style `tunables` (["--spokes", "100"]) and/or kwargs.

    TRex 2.x consoles pass tunables as keyword arguments (strings or typed), TRex 3.x passes a list
    that the profile parses with argparse (`--help` lists them); dmvpn's loader passes typed
    keyword arguments. `port_id` (always passed by TRex) is ignored; unknown names raise.
    """
    kwargs = {k: v for k, v in kwargs.items() if k not in ("port_id",)}
    unknown = sorted(set(kwargs) - set(spec))
    if unknown:
        raise ValueError(f"{prog}: unknown tunable(s) {', '.join(unknown)}; known: {', '.join(spec)}")
    values = {name: t.default for name, t in spec.items()}
    for name, value in kwargs.items():
        values[name] = value if value is None else spec[name].type(value)
    if tunables:
        parser = argparse.ArgumentParser(prog=prog, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        for name, t in spec.items():
            parser.add_argument(f"--{name}", type=t.type, default=values[name], help=t.help)
        values.update(vars(parser.parse_args(list(tunables))))
    return SimpleNamespace(**values)


def describe_tunables(spec: dict[str, Tunable]) -> str:
    """One line per tunable, for module docstrings and `--help`."""
    return "\n".join(f"  {name:<14} {t.help} (default {t.default!r})" for name, t in spec.items())


def common_tunables() -> dict[str, Tunable]:
    """Tunables every profile has: GRE key, hub addresses, MACs (TRex replaces MACs by its ports')."""
    return {
        "gre_key": Tunable(DEFAULT_GRE_KEY, integer, "GRE key (RFC 2890) on every packet; -1 for no key"),
        "hub_nbma": Tunable(HUB_NBMA, str, "hub NBMA (outer) address"),
        "hub_tunnel": Tunable(HUB_TUNNEL, str, "hub tunnel address"),
        "nbma_pools": Tunable(DEFAULT_NBMA_POOLS, str, "spoke NBMA addresses: comma-separated CIDRs or a-b ranges"),
        "tunnel_net": Tunable(DEFAULT_TUNNEL_NET, str, "tunnel network; spokes get its hosts except the hub"),
        "src_mac": Tunable(DEFAULT_SRC_MAC, str, "Ethernet source in the template (TRex/local engine write the port's)"),
        "dst_mac": Tunable(DEFAULT_DST_MAC, str, "Ethernet destination in the template (the DUT's MAC in a testbed)"),
    }


def gre_key_or_none(key: int) -> int | None:
    return None if key is None or key < 0 else key


# --------------------------------------------------------------------------------------------------
# Address plan


def address_pool(spec: str) -> list[str]:
    """Addresses of 'a-b' ranges and CIDRs (hosts only), comma-separated, in order, no repeats."""
    out: list[str] = []
    seen: set[str] = set()
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if "-" in part:
            first, last = (ipaddress.IPv4Address(x.strip()) for x in part.split("-", 1))
            if last < first:
                raise ValueError(f"empty range {part!r}")
            addrs: Iterable[ipaddress.IPv4Address] = (
                ipaddress.IPv4Address(n) for n in range(int(first), int(last) + 1)
            )
        else:
            net = ipaddress.IPv4Network(part, strict=False)
            addrs = net.hosts() if net.prefixlen < 31 else iter(net)
        for a in addrs:
            text = str(a)
            if text not in seen:
                seen.add(text)
                out.append(text)
    return out


class AddressPlan:
    """Who is where: hub and spoke NBMA/tunnel addresses and spoke LANs (see the module docstring)."""

    def __init__(
        self,
        nbma_pools: str = DEFAULT_NBMA_POOLS,
        tunnel_net: str = DEFAULT_TUNNEL_NET,
        hub_nbma: str = HUB_NBMA,
        hub_tunnel: str = HUB_TUNNEL,
    ) -> None:
        self.hub_nbma = hub_nbma
        self.hub_tunnel = hub_tunnel
        self.nbma = [a for a in address_pool(nbma_pools) if a != hub_nbma]
        self._tunnel_net = ipaddress.IPv4Network(tunnel_net, strict=False)
        self._tunnel_first = int(self._tunnel_net.network_address) + 1
        self._tunnel_count = max(0, self._tunnel_net.num_addresses - 2)
        self._hub_tunnel_int = int(ipaddress.IPv4Address(hub_tunnel))

    @classmethod
    def from_tunables(cls, t: SimpleNamespace) -> AddressPlan:
        return cls(t.nbma_pools, t.tunnel_net, t.hub_nbma, t.hub_tunnel)

    @property
    def capacity(self) -> int:
        hub_inside = self._tunnel_first <= self._hub_tunnel_int < self._tunnel_first + self._tunnel_count
        return min(len(self.nbma), self._tunnel_count - hub_inside)

    def require(self, spokes: int) -> None:
        """Raise ValueError (naming the tunable to widen) unless `spokes` unique spokes fit."""
        if spokes < 1:
            raise ValueError(f"need at least one spoke, got {spokes}")
        if spokes > len(self.nbma):
            raise ValueError(
                f"{spokes} spokes need {spokes} NBMA addresses, nbma_pools has {len(self.nbma)}: widen nbma_pools"
            )
        if spokes > self.capacity:
            raise ValueError(
                f"{spokes} spokes do not fit tunnel_net {self._tunnel_net} ({self.capacity} spokes): widen tunnel_net"
            )

    def spoke_nbma(self, i: int) -> str:
        return self.nbma[i]

    def spoke_tunnel(self, i: int) -> str:
        n = self._tunnel_first + i
        if self._tunnel_first <= self._hub_tunnel_int <= n:
            n += 1  # skip the hub's own address
        if i < 0 or n >= self._tunnel_first + self._tunnel_count:
            raise ValueError(f"spoke {i} has no tunnel address in {self._tunnel_net}")
        return str(ipaddress.IPv4Address(n))

    @staticmethod
    def spoke_lan(i: int) -> ipaddress.IPv4Network:
        if not 0 <= i <= 154:
            raise ValueError(f"spoke {i} has no LAN: spoke LANs are 10.100.0.0/24 - 10.254.0.0/24 (spokes 0-154)")
        return ipaddress.IPv4Network(f"10.{100 + i}.0.0/24")

    @classmethod
    def lan_host(cls, i: int, host: int) -> str:
        if not 1 <= host <= 254:
            raise ValueError(f"LAN host {host} out of 1-254")
        return str(cls.spoke_lan(i).network_address + host)


# --------------------------------------------------------------------------------------------------
# Frames


def mac_bytes(mac: str | bytes) -> bytes:
    if isinstance(mac, bytes):
        if len(mac) != 6:
            raise ValueError(f"MAC must be 6 bytes, got {len(mac)}")
        return mac
    parts = mac.replace("-", ":").split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return bytes(int(p, 16) for p in parts)


def ethernet(dst_mac: str | bytes = DEFAULT_DST_MAC, src_mac: str | bytes = DEFAULT_SRC_MAC, ethertype: int = ETH_P_IP) -> bytes:
    """A 14-byte Ethernet II header."""
    return mac_bytes(dst_mac) + mac_bytes(src_mac) + struct.pack("!H", ethertype)


def ipv4_udp(
    src: str,
    dst: str,
    size: int,
    *,
    sport: int = 1024,
    dport: int = 9,
    ttl: int = 64,
    ident: int = 0,
    tos: int = 0,
    fill: int = 0,
) -> bytes:
    """An IPv4/UDP packet of exactly `size` bytes (>= 28), IP checksum right, UDP checksum 0.

    UDP checksum 0 ("not computed", RFC 768, allowed over IPv4) because the field engine varies
    inner addresses and ports and TRex only fixes IPv4 header checksums in software.
    """
    if size < 28:
        raise ValueError(f"an IPv4/UDP packet needs at least 28 bytes, not {size}")
    if size > 0xFFFF:
        raise ValueError(f"IPv4 packet of {size} bytes")
    header = bytearray(
        struct.pack(
            "!BBHHHBBH4s4s", 0x45, tos, size, ident, 0, ttl, 17, 0,
            ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed,
        )
    )  # fmt: skip
    struct.pack_into("!H", header, 10, inet_checksum(header))
    udp = struct.pack("!HHHH", sport, dport, size - 20, 0)
    return bytes(header) + udp + bytes([fill]) * (size - 28)


def inner_sizes(size: str | int) -> list[tuple[int, int]]:
    """[(inner IPv4 size, weight)] for a size tunable: "64", "1400", "imix" or any int >= 28."""
    if isinstance(size, str) and size.strip().lower() == "imix":
        return list(IMIX)
    n = integer(size)
    if not 28 <= n <= TUNNEL_MTU:
        raise ValueError(f"inner packet size {n} out of 28-{TUNNEL_MTU} (the tunnel MTU)")
    return [(n, 1)]


def split_rate(rate: float, weights: Sequence[int]) -> list[float]:
    total = sum(weights)
    return [rate * w / total for w in weights]


# --------------------------------------------------------------------------------------------------
# Lock-step value lists


@dataclass(frozen=True)
class LockstepField:
    """Bytes [offset, offset+size) of frame k hold values[k] (big-endian)."""

    offset: int
    size: int
    values: tuple[int, ...]


def lockstep_fields(frames: Sequence[bytes]) -> tuple[bytes, list[LockstepField]]:
    """(frame 0, the fields in which the frames differ), for `lockstep_vm`.

    Differing bytes are grouped into runs and each run is cut into 8/4/2/1-byte fields (TRex
    variable sizes). All frames must have the same length.
    """
    if not frames:
        raise ValueError("no frames")
    base = frames[0]
    n = len(base)
    if any(len(f) != n for f in frames):
        raise ValueError("lock-step frames must all have the same length")
    base_int = int.from_bytes(base, "big")
    acc = 0
    for f in frames[1:]:
        acc |= int.from_bytes(f, "big") ^ base_int
    diff = acc.to_bytes(n, "big")
    fields: list[LockstepField] = []
    i = 0
    while i < n:
        if not diff[i]:
            i += 1
            continue
        j = i
        while j < n and diff[j]:
            j += 1
        off = i
        while off < j:
            size = next(s for s in (8, 4, 2, 1) if s <= j - off)
            values = tuple(int.from_bytes(f[off : off + size], "big") for f in frames)
            fields.append(LockstepField(off, size, values))
            off += size
        i = j
    return base, fields


def lockstep_vm(fields: Sequence[LockstepField], flow_var: Callable[..., Any], write: Callable[..., Any], prefix: str = "ls") -> list[Any]:
    """STL field-engine instructions for `fields`: one value-list variable and one write per field.

    Pass the profile's `STLVmFlowVar` and `STLVmWrFlowVar`. Raises ValueError when TRex could not
    run it (more than 64 bytes of variables or a write beyond byte 512).
    """
    total = sum(f.size for f in fields)
    if total > TREX_MAX_VAR_BYTES:
        raise ValueError(f"{total} bytes of lock-step variables; TRex allows {TREX_MAX_VAR_BYTES} per stream")
    for f in fields:
        if f.offset + f.size > TREX_MAX_WRITE_OFFSET:
            raise ValueError(f"lock-step field at byte {f.offset}: TRex writes only the first {TREX_MAX_WRITE_OFFSET} bytes")
    out: list[Any] = [
        flow_var(name=f"{prefix}{f.offset}", size=f.size, op="inc", value_list=list(f.values)) for f in fields
    ]
    out += [write(fv_name=f"{prefix}{f.offset}", pkt_offset=f.offset) for f in fields]
    return out


def lockstep_chunks(frames: Sequence[bytes], limit: int = TREX_MAX_VALUE_LIST) -> list[Sequence[bytes]]:
    """Frames cut into runs of at most `limit` (one lock-step stream each, chained by the profile)."""
    if limit < 1:
        raise ValueError("limit must be positive")
    return [frames[i : i + limit] for i in range(0, len(frames), limit)] or [frames]


def pps_or_max(rate: float) -> float:
    """A TRex pps value; rate <= 0 means 'as fast as possible' (a very high pps)."""
    return float(rate) if rate and rate > 0 else 1e9


def lockstep_streams(
    stl: Any,
    frames: Sequence[bytes],
    *,
    pps: float,
    name: str,
    total: int | None = None,
    continuous: bool = False,
    isg: float = 0.0,
    limit: int = TREX_MAX_VALUE_LIST,
    **stream_kwargs: Any,
) -> list[Any]:
    """STL streams that send `frames` (precomputed, same length) in order through value-list variables.

    `stl` is the profile's `trex_stl_lib.api` module (real or shim). Default: one single burst of
    len(frames) packets. `total` > len(frames) cycles through the frames (TRex's value lists wrap);
    `continuous` sends them round and round until stopped. More frames than `limit` become several
    single-burst streams chained by name (`name`0 -> `name`1 -> ...), never looped.
    """
    chunks = lockstep_chunks(frames, limit)
    if (continuous or total is not None) and len(chunks) > 1:
        raise ValueError(f"{len(frames)} frames need {len(chunks)} chained streams: give neither total nor continuous")
    streams = []
    for k, chunk in enumerate(chunks):
        base, fields = lockstep_fields(chunk)
        vm = stl.STLScVmRaw(lockstep_vm(fields, stl.STLVmFlowVar, stl.STLVmWrFlowVar))
        if continuous:
            mode = stl.STLTXCont(pps=pps)
        else:
            mode = stl.STLTXSingleBurst(total_pkts=len(chunk) if total is None else total, pps=pps)
        streams.append(
            stl.STLStream(
                name=f"{name}{k}",
                packet=stl.STLPktBuilder(pkt_buffer=bytes(base), vm=vm),
                mode=mode,
                self_start=k == 0,
                isg=isg if k == 0 else 0.0,
                next=f"{name}{k + 1}" if k + 1 < len(chunks) else None,
                **stream_kwargs,
            )
        )
    return streams

