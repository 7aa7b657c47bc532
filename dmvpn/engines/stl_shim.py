"""A scapy-free stand-in for TRex's `trex_stl_lib.api`, for running TRex profiles without TRex.

`dmvpn.engines.loader` puts this module in `sys.modules` as `trex_stl_lib.api` (and
`trex.stl.api`) while it executes a profile file, so `from trex_stl_lib.api import *` in the
profile resolves here. Only the subset the project's profiles use is provided; everything else is
absent on purpose, so a profile that needs more fails loudly instead of silently meaning
something else.

Why a stand-in and not the real client objects: the real client (PyPI `lbr-trex-client`) swaps
`scapy` for its vendored 2.4.3 at import, which breaks the project's scapy 2.8 in the same process,
and it never *executes* a field engine anyway (only the TRex server or the bp-sim binary does): a
local engine has to implement the field-engine semantics itself whatever it loads the profile
with. So the shim only has to describe streams, and it describes them in exactly the client's JSON
(`STLStream.to_json()`, `STLProfile.to_json()`): the same dicts, instruction order included (flow
variables first, as the client's compiler orders them). The local engine consumes that JSON, so it
can equally run JSON produced by the real client in its own process (see `dmvpn.engines.trex`), and
the tests hold the shim's JSON against the real client's for every profile.

Differences from the real client, all deliberate:
  * packets only as bytes: `STLPktBuilder(pkt_buffer=...)`; `pkt=` (scapy or pcap) raises
  * offsets only as ints: layer/field names like "IP.src" need scapy and raise
  * no STLClient, no STLVM builder API, no tuple generator, no trim, no pcap loading
"""

from __future__ import annotations

import base64
import ipaddress
from typing import Any

__all__ = [
    "STLError",
    "STLFlowLatencyStats",
    "STLFlowStats",
    "STLPktBuilder",
    "STLProfile",
    "STLScVmRaw",
    "STLStream",
    "STLStreamDstMAC_ARP",
    "STLStreamDstMAC_CFG_FILE",
    "STLStreamDstMAC_PKT",
    "STLTXCont",
    "STLTXMode",
    "STLTXMultiBurst",
    "STLTXSingleBurst",
    "STLVmFixIpv4",
    "STLVmFlowVar",
    "STLVmWrFlowVar",
    "STLVmWrMaskFlowVar",
    "TRexError",
]

#: Marker the loader and tests use to tell the shim from the real client.
DMVPN_STL_SHIM = True

STLStreamDstMAC_CFG_FILE = 0
STLStreamDstMAC_PKT = 1
STLStreamDstMAC_ARP = 2

_MAX_BY_SIZE = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF, 8: 0xFFFFFFFFFFFFFFFF}


class TRexError(Exception):
    """Raised where the real client raises TRexError / CTRexPacketBuildException."""


STLError = TRexError


def _need(name: str, value: Any, types: type | tuple[type, ...]) -> None:
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
        raise TRexError(f"{name}: {type(value).__name__} is not one of {_as_tuple(types)}")


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _num(value: Any, what: str) -> int:
    """Like the client's convert_val: ints pass, dotted IPv4 strings become ints."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(ipaddress.IPv4Address(value))
        except ValueError:
            raise TRexError(f"{what}: {value!r} is not an IPv4 address") from None
    raise TRexError(f"{what}: invalid value {value!r}")


def _offset(value: Any, what: str) -> int:
    if isinstance(value, str):
        raise TRexError(
            f"{what}: {value!r} is a scapy field name; the dmvpn STL shim has no scapy, give a numeric offset"
        )
    _need(what, value, int)
    return value


# --------------------------------------------------------------------------------------------------
# Field engine instructions


class _VmInstruction:
    def var_names(self) -> list[str]:
        return []

    def var_ref(self) -> str | None:
        return None

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError


class STLVmFlowVar(_VmInstruction):
    """A stream variable: `op` inc/dec/random over [min_value, max_value] or over `value_list`.

    TRex semantics (implemented by dmvpn.engines.fieldengine): inc/dec start at init_value (default
    min_value for inc/random, max_value for dec) and wrap inside the range; random draws uniformly;
    a value_list is walked by index (inc from the first entry, dec from the last).
    """

    def __init__(
        self,
        name: str,
        init_value: Any = None,
        min_value: Any = 0,
        max_value: Any = 255,
        size: int = 4,
        step: Any = 1,
        op: str = "inc",
        value_list: list[Any] | None = None,
        split_to_cores: bool = True,
        next_var: str | None = None,
    ) -> None:
        _need("name", name, str)
        if size not in _MAX_BY_SIZE:
            raise TRexError(f"Flow var has invalid size {size}")
        if op not in ("inc", "dec", "random"):
            raise TRexError(f"Flow var has invalid op {op}")
        if next_var is not None:
            _need("next_var", next_var, str)
            if op == "random":
                raise TRexError(f"If next_var is defined then op can't be random. Check {name}")
            if next_var == name:
                raise TRexError("Self loops are forbidden.")
        _need("split_to_cores", split_to_cores, bool)
        self.name = name
        self.size = size
        self.op = op
        self.next_var = next_var
        self.previous: str | None = None
        self.split_to_cores = split_to_cores
        self.step = _num(step, "step")
        if self.step <= 0:
            raise TRexError(f"step {self.step} must be more than 0")
        top = _MAX_BY_SIZE[size]
        if value_list is None:
            if init_value is None:
                init_value = max_value if op == "dec" else min_value
            self.init_value: int | None = _num(init_value, "init_value")
            self.min_value: int | None = _num(min_value, "min_value")
            self.max_value: int | None = _num(max_value, "max_value")
            self.value_list: list[int] | None = None
            for v in (self.min_value, self.max_value, self.init_value, self.step):
                if v > top:
                    raise TRexError(f"requested value {v} with size {size} is bigger than {hex(top)}")
            if self.min_value > self.max_value:
                raise TRexError(f"max {self.max_value} is lower than min {self.min_value}")
            if not self.min_value <= self.init_value <= self.max_value:
                raise TRexError(f"init_value must be between min_value {self.min_value} and max_value {self.max_value}")
            pad = (self.max_value - self.min_value + 1) % self.step
            if pad:
                step_pad = self.step - pad
                if (op == "inc" and _MAX_BY_SIZE[8] - self.max_value < step_pad) or (
                    op == "dec" and self.min_value < step_pad
                ):
                    raise TRexError("could not pad range to be a true cycle")
        else:
            if not isinstance(value_list, list):
                raise TRexError(f"init val invalid(not list) {value_list}")
            if len(value_list) > 0xFFFF:
                raise TRexError(f"value_list size {len(value_list)} bigger than {0xFFFF}")
            self.init_value = self.min_value = self.max_value = None
            self.value_list = [_num(v, f"value_list[{i}]") for i, v in enumerate(value_list)]
            for v in self.value_list:
                if v < 0 or v > top:
                    raise TRexError(f"requested value {v} with size {size} is bigger than {hex(top)}")

    def var_names(self) -> list[str]:
        return [self.name]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "flow_var",
            "name": self.name,
            "size": self.size,
            "op": self.op,
            "next_var": self.next_var,
            "split_to_cores": self.split_to_cores,
        }
        if self.value_list is None:
            out.update(init_value=self.init_value, min_value=self.min_value, max_value=self.max_value)
        else:
            out["value_list"] = list(self.value_list)
        out["step"] = self.step
        return out


class STLVmWrFlowVar(_VmInstruction):
    """Write variable `fv_name` (+ add_val, truncated to the variable's size) at pkt_offset + offset_fixup."""

    def __init__(self, fv_name: str, pkt_offset: int, offset_fixup: int = 0, add_val: int = 0, is_big: bool = True) -> None:
        _need("fv_name", fv_name, str)
        _need("offset_fixup", offset_fixup, int)
        _need("add_val", add_val, int)
        _need("is_big", is_big, bool)
        self.fv_name = fv_name
        self.pkt_offset = _offset(pkt_offset, "pkt_offset")
        self.offset_fixup = offset_fixup
        self.add_val = add_val
        self.is_big = is_big

    def var_ref(self) -> str:
        return self.fv_name

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "write_flow_var",
            "name": self.fv_name,
            "pkt_offset": self.pkt_offset + self.offset_fixup,
            "add_value": self.add_val,
            "is_big_endian": self.is_big,
        }


class STLVmWrMaskFlowVar(_VmInstruction):
    """Read-modify-write: ((var + add_value) << shift, or >> -shift) & mask into a 1/2/4-byte field."""

    def __init__(
        self,
        fv_name: str,
        pkt_offset: int,
        pkt_cast_size: int = 1,
        mask: int = 0xFF,
        shift: int = 0,
        add_value: int = 0,
        offset_fixup: int = 0,
        is_big: bool = True,
    ) -> None:
        _need("fv_name", fv_name, str)
        _need("offset_fixup", offset_fixup, int)
        _need("pkt_cast_size", pkt_cast_size, int)
        if pkt_cast_size not in (1, 2, 4):
            raise TRexError("not valid cast size")
        for what, v in (("mask", mask), ("shift", shift), ("add_value", add_value)):
            _need(what, v, int)
        _need("is_big", is_big, bool)
        self.fv_name = fv_name
        self.pkt_offset = _offset(pkt_offset, "pkt_offset")
        self.offset_fixup = offset_fixup
        self.pkt_cast_size = pkt_cast_size
        self.mask = mask
        self.shift = shift
        self.add_value = add_value
        self.is_big = is_big

    def var_ref(self) -> str:
        return self.fv_name

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "write_mask_flow_var",
            "name": self.fv_name,
            "pkt_offset": self.pkt_offset + self.offset_fixup,
            "pkt_cast_size": self.pkt_cast_size,
            "mask": self.mask,
            "shift": self.shift,
            "add_value": self.add_value,
            "is_big_endian": self.is_big,
        }


class STLVmFixIpv4(_VmInstruction):
    """Recompute the header checksum of the IPv4 header that starts at `offset` (not the checksum's offset)."""

    def __init__(self, offset: int) -> None:
        self.offset = _offset(offset, "offset")

    def to_json(self) -> dict[str, Any]:
        return {"type": "fix_checksum_ipv4", "pkt_offset": self.offset}


class STLScVmRaw:
    """A list of field-engine instructions, optionally with a cache of `cache_size` precomputed packets."""

    def __init__(self, list_of_commands: list[_VmInstruction] | None = None, cache_size: int | None = None) -> None:
        self.commands = list(list_of_commands or [])
        self.cache_size = cache_size

    def add_cmd(self, cmd: _VmInstruction) -> None:
        self.commands.append(cmd)

    def compile(self) -> dict[str, Any]:
        """The client's `CTRexVmEngine.get_json()` after `_compile_raw`: same checks, same order."""
        names: set[str] = set()
        for cmd in self.commands:
            if not isinstance(cmd, _VmInstruction):
                raise TRexError(f"not a field-engine instruction the dmvpn shim knows: {cmd!r}")
            for name in cmd.var_names():
                if name in names:
                    raise TRexError(f"Variable {name} defined twice ")
                names.add(name)
        for cmd in self.commands:
            ref = cmd.var_ref()
            if ref and ref not in names:
                raise TRexError(f"Variable {ref} does not exist  ")
        flow_vars = {c.name: c for c in self.commands if isinstance(c, STLVmFlowVar)}
        for var in flow_vars.values():
            if var.next_var and var.next_var not in flow_vars:
                raise TRexError(f"Variable {var.next_var} does not exist  ")
        for name, var in flow_vars.items():  # compute_previous
            if var.next_var:
                nxt = flow_vars[var.next_var]
                if nxt.previous and nxt.previous != name:
                    raise TRexError(f"Variable {var.next_var} is pointed by two vars.")
                nxt.previous = name
                nxt.split_to_cores = False
        ordered: list[_VmInstruction] = []
        for var in flow_vars.values():  # order_flow_vars
            if var.previous is None:
                head = var
                while head.next_var:
                    ordered.append(head)
                    head = flow_vars[head.next_var]
                ordered.append(head)
        if len(ordered) != len(flow_vars):
            raise TRexError("Loops are forbidden for dependent variables")
        ordered += [c for c in self.commands if not isinstance(c, STLVmFlowVar)]
        out: dict[str, Any] = {"instructions": [c.to_json() for c in ordered]}
        if self.cache_size:
            _need("cache_size", self.cache_size, int)
            out["cache"] = self.cache_size
        return out


# --------------------------------------------------------------------------------------------------
# Packet builder


class STLPktBuilder:
    """A packet as bytes (the whole L2 frame, without FCS) plus its field-engine program."""

    def __init__(
        self,
        pkt: Any = None,
        pkt_buffer: bytes | None = None,
        vm: STLScVmRaw | list[_VmInstruction] | None = None,
        path_relative_to_profile: bool = False,
        build_raw: bool = False,
        remove_fcs: bool = True,
    ) -> None:
        if pkt is not None:
            raise TRexError(
                "the dmvpn STL shim takes packets only as bytes: STLPktBuilder(pkt_buffer=...), not pkt="
            )
        if pkt_buffer is None:
            raise TRexError("Packet is empty")
        _need("pkt_buffer", pkt_buffer, bytes)
        self.pkt_raw = pkt_buffer
        if vm is not None and not isinstance(vm, (STLScVmRaw, list)):
            raise TRexError("Bad value for variable vm.")
        self.vm = vm if isinstance(vm, STLScVmRaw) else STLScVmRaw(vm or [])
        self._vm_json = self.vm.compile()

    def is_default_src_mac(self) -> bool:
        return True  # binary source: TRex writes the port's MAC unless told otherwise

    def is_default_dst_mac(self) -> bool:
        return True

    def get_pkt_len(self) -> int:
        return len(self.pkt_raw)

    def to_json(self) -> dict[str, Any]:
        return {
            "packet": {"binary": base64.b64encode(self.pkt_raw).decode(), "meta": ""},
            "vm": self._vm_json,
        }


# --------------------------------------------------------------------------------------------------
# Modes, flow stats, streams, profiles


class STLTXMode:
    """Rate: exactly one of pps, bps_L1, bps_L2, percentage (default 1 pps)."""

    def __init__(self, pps: float | None = None, bps_L1: float | None = None, bps_L2: float | None = None, percentage: float | None = None) -> None:
        args = {"pps": pps, "bps_L1": bps_L1, "bps_L2": bps_L2, "percentage": percentage}
        given = {k: v for k, v in args.items() if v is not None}
        if not given:
            given = {"pps": 1.0}
        if len(given) != 1:
            raise TRexError(f"exactly one rate argument is allowed, got {sorted(given)}")
        (kind, value), = given.items()
        _need(kind, value, (int, float))
        if kind == "percentage" and not 0 < value <= 100:
            raise TRexError(f"percentage {value} out of (0, 100]")
        self.fields: dict[str, Any] = {"rate": {"type": kind, "value": value}}

    def to_json(self) -> dict[str, Any]:
        return dict(self.fields)


class STLTXCont(STLTXMode):
    """Continuous: until stopped (TRex `start -d`; the local engine always bounds it)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fields["type"] = "continuous"

    def __str__(self) -> str:
        return "Continuous"


class STLTXSingleBurst(STLTXMode):
    """One burst of `total_pkts` packets at the rate."""

    def __init__(self, total_pkts: int = 1, **kwargs: Any) -> None:
        if not isinstance(total_pkts, int) or isinstance(total_pkts, bool):
            raise TRexError(f"total_pkts: {total_pkts!r}")
        super().__init__(**kwargs)
        self.fields["type"] = "single_burst"
        self.fields["total_pkts"] = total_pkts

    def __str__(self) -> str:
        return "Single Burst"


class STLTXMultiBurst(STLTXMode):
    """`count` bursts of `pkts_per_burst` packets at the rate, `ibg` microseconds between bursts."""

    def __init__(self, pkts_per_burst: int = 1, ibg: float = 0.0, count: int = 1, **kwargs: Any) -> None:
        for what, v, types in (("pkts_per_burst", pkts_per_burst, int), ("ibg", ibg, (int, float)), ("count", count, int)):
            if not isinstance(v, types) or isinstance(v, bool):
                raise TRexError(f"{what}: {v!r}")
        super().__init__(**kwargs)
        self.fields["type"] = "multi_burst"
        self.fields["pkts_per_burst"] = pkts_per_burst
        self.fields["ibg"] = ibg
        self.fields["count"] = count

    def __str__(self) -> str:
        return "Multi Burst"


class _FlowStatsBase:
    rule_type = ""

    def __init__(self, pg_id: int, vxlan: bool = False, ieee_1588: bool = False) -> None:
        self.fields = {"enabled": True, "stream_id": pg_id, "vxlan": vxlan, "ieee_1588": ieee_1588, "rule_type": self.rule_type}

    def to_json(self) -> dict[str, Any]:
        return dict(self.fields)


class STLFlowStats(_FlowStatsBase):
    """Per-stream counters on the TRex side (keyed on the outer IPv4 ID there); the local engine ignores it."""

    rule_type = "stats"


class STLFlowLatencyStats(_FlowStatsBase):
    """Per-stream latency on the TRex side; the local engine ignores it."""

    rule_type = "latency"


class STLStream:
    """One stream: packet + field engine, mode and rate, chaining (name/next/self_start/isg)."""

    def __init__(
        self,
        name: str | int | None = None,
        packet: STLPktBuilder | None = None,
        mode: STLTXMode | None = None,
        enabled: bool = True,
        self_start: bool = True,
        isg: float = 0.0,
        flow_stats: _FlowStatsBase | None = None,
        next: str | int | None = None,
        stream_id: int | None = None,
        action_count: int = 0,
        random_seed: int = 0,
        mac_src_override_by_pkt: bool | None = None,
        mac_dst_override_mode: int | None = None,
        dummy_stream: bool = False,
        start_paused: bool = False,
        core_id: int = -1,
    ) -> None:
        if mode is None:
            mode = STLTXCont(pps=1)
        _need("mode", mode, STLTXMode)
        if packet is None:
            raise TRexError("the dmvpn STL shim needs an explicit packet=STLPktBuilder(pkt_buffer=...)")
        _need("packet", packet, STLPktBuilder)
        for what, v, types in (
            ("enabled", enabled, bool),
            ("self_start", self_start, bool),
            ("isg", isg, (int, float)),
            ("random_seed", random_seed, int),
            ("dummy_stream", dummy_stream, bool),
            ("start_paused", start_paused, bool),
            ("core_id", core_id, int),
        ):
            _need(what, v, types)
        if flow_stats is not None:
            _need("flow_stats", flow_stats, _FlowStatsBase)
        if isinstance(mode, STLTXCont) and next is not None:
            raise TRexError("Continuous stream cannot have a next stream ID")
        self.name = name
        self.next = next
        self.id = stream_id
        self.packet = packet
        src_by_pkt = 0 if mac_src_override_by_pkt is None else int(mac_src_override_by_pkt)
        dst_mode = 0 if mac_dst_override_mode is None else int(mac_dst_override_mode)
        self.is_default_mac = not (src_by_pkt or dst_mode)
        self.fields: dict[str, Any] = {
            "flags": (src_by_pkt & 1) + ((dst_mode & 3) << 1) + (int(dummy_stream) << 3),
            "action_count": action_count,
            "enabled": enabled,
            "self_start": self_start,
            "start_paused": start_paused,
            "isg": isg,
            "core_id": core_id,
        }
        if random_seed != 0:
            self.fields["random_seed"] = random_seed
        self.fields["mode"] = mode.to_json()
        self.mode_desc = str(mode)
        pkt_json = packet.to_json()
        self.fields["packet"] = pkt_json["packet"]
        self.fields["vm"] = pkt_json["vm"]
        self.pkt = packet.pkt_raw
        self.fields["flow_stats"] = flow_stats.to_json() if flow_stats else {"enabled": False}

    def get_name(self) -> str | int | None:
        return self.name

    def get_next(self) -> str | int | None:
        return self.next

    def get_pkt(self) -> bytes:
        return self.pkt

    def get_pkt_len(self, count_crc: bool = True) -> int:
        return len(self.pkt) + (4 if count_crc else 0)

    def get_mode(self) -> str:
        return self.mode_desc

    def to_json(self) -> dict[str, Any]:
        out = dict(self.fields)
        if self.name:
            out["name"] = self.name
        if self.next:
            out["next"] = self.next
        return out

    def __repr__(self) -> str:
        return f"<STLStream {self.name!r} {self.mode_desc} {len(self.pkt)} bytes>"


class STLProfile:
    """A list of streams."""

    def __init__(self, streams: STLStream | list[STLStream] | None = None) -> None:
        if streams is None:
            streams = []
        if not isinstance(streams, list):
            streams = [streams]
        if not all(isinstance(s, STLStream) for s in streams):
            raise TRexError("STLProfile takes STLStream objects")
        self.streams = streams
        self.meta: dict[str, Any] | None = None

    def get_streams(self) -> list[STLStream]:
        return self.streams

    def to_json(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.streams]

    def __len__(self) -> int:
        return len(self.streams)
