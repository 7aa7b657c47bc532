"""TRex's stateless field engine, executed in Python over the client's stream JSON.

Semantics follow trex-core `src/stx/stl/trex_stl_stream_vm.{h,cpp}` (per packet, the program runs
in JSON order: every flow variable steps, then the writes and checksum fixes):

  flow_var inc/dec   packet k gets init_value advanced by k*step, wrapping inside [min, max]
                     (TRex stores `step % (max-min+1)`, starts the variable one step *before*
                     init_value and steps before writing, so packet 0 carries init_value)
  flow_var value_list  inc walks the list from its first entry, dec from its last, by `step`
  flow_var random    min + r % (max-min+1) with TRex's fastrand LCG (seed*214013+2531011, 15 bits
                     per draw; 2-byte and smaller variables use one draw, 4-byte two, 8-byte four),
                     seeded by the stream's random_seed (else a random seed); one generator per
                     stream, drawn in program order. TRex seeds each DP core its own way: same
                     generator and range reduction, not the same numbers as a given TRex box.
  write_flow_var     (var + add_value) truncated to the variable's size, big or little endian
  write_mask_flow_var  uint32 (var + add_value), shifted (<< shift, or >> -shift), read-modify-write
                     through `mask` into a 1/2/4-byte field
  fix_checksum_ipv4  the IPv4 header at pkt_offset (IHL from the packet) gets its checksum recomputed
  cache (STLScVmRaw cache_size)  the first `cache` packets repeat

Not supported (ValueError, never a silent approximation): next_var chains, tuple generator,
rand-limit variables, packet trimming, hardware checksum offload, ICMPv6 fixes.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Callable
from typing import Any

from dmvpn.wire.checksum import inet_checksum

_MASK = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF, 8: 0xFFFFFFFFFFFFFFFF}
_FMT_BIG = {1: ">B", 2: ">H", 4: ">I", 8: ">Q"}
_FMT_LITTLE = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}


class FieldEngineError(ValueError):
    """A program the local engine cannot run exactly (unsupported instruction or out-of-packet write)."""


class TrexRandom:
    """trex-core's fastrand (Intel's fast LCG): 15 random bits per draw."""

    __slots__ = ("state",)

    def __init__(self, seed: int) -> None:
        self.state = seed & 0xFFFFFFFF

    def rand16(self) -> int:
        self.state = (214013 * self.state + 2531011) & 0xFFFFFFFF
        return (self.state >> 16) & 0x7FFF

    def rand32(self) -> int:
        hi = self.rand16()
        return ((hi << 16) + self.rand16()) & 0xFFFFFFFF

    def rand64(self) -> int:
        hi = self.rand32()
        return ((hi << 32) + self.rand32()) & 0xFFFFFFFFFFFFFFFF


class FlowVar:
    """One flow variable; `value(k, rng)` is its value in packet k (k counts from 0, called in order)."""

    def __init__(self, ins: dict[str, Any]) -> None:
        if ins.get("next_var"):
            raise FieldEngineError(f"flow_var {ins['name']!r}: next_var chains are not supported by the local engine")
        self.name: str = ins["name"]
        self.size: int = ins["size"]
        if self.size not in _MASK:
            raise FieldEngineError(f"flow_var {self.name!r}: size {self.size}")
        self.op: str = ins["op"]
        if self.op not in ("inc", "dec", "random"):
            raise FieldEngineError(f"flow_var {self.name!r}: op {self.op!r}")
        self.split_to_cores: bool = bool(ins.get("split_to_cores", True))
        self.values: list[int] | None = ins.get("value_list")
        if self.values is not None:
            if not self.values:
                raise FieldEngineError(f"flow_var {self.name!r}: empty value_list")
            self.range = len(self.values)
            self.start = 0 if self.op == "inc" else self.range - 1
            self.min = 0
        else:
            self.min = ins["min_value"]
            max_value = ins["max_value"]
            self.range = max_value - self.min + 1
            self.start = ins["init_value"] - self.min
            if not 0 <= self.start < self.range:
                raise FieldEngineError(f"flow_var {self.name!r}: init_value outside [min, max]")
        self.step = ins.get("step", 1) % self.range

    @property
    def period(self) -> int | None:
        """Packets before the variable repeats (None for random)."""
        if self.op == "random":
            return None
        return self.range // math.gcd(self.step, self.range) if self.step else 1

    def value(self, k: int, rng: TrexRandom) -> int:
        if self.op == "random":
            if self.values is not None:
                return self.values[rng.rand16() % self.range]
            if self.size <= 2:
                r = rng.rand16()
            elif self.size == 4:
                r = rng.rand32()
            else:
                r = rng.rand64()
                if self.range == 1 << 64:
                    return r
            return self.min + r % self.range
        offset = self.step * k
        index = (self.start + offset) % self.range if self.op == "inc" else (self.start - offset) % self.range
        return self.values[index] if self.values is not None else self.min + index


class Program:
    """A compiled stream VM: `packets(base, count)` gives the first `count` packets of the stream."""

    def __init__(self, vm: dict[str, Any] | None, packet_len: int, seed: int = 0) -> None:
        vm = vm or {}
        self.vars: list[FlowVar] = []
        self._ops: list[Callable[[bytearray, list[int]], None]] = []
        index: dict[str, int] = {}
        self.cache: int | None = vm.get("cache") or None
        self.seed = seed if seed else int.from_bytes(os.urandom(4), "big") or 1
        for ins in vm.get("instructions", []):
            kind = ins.get("type")
            if kind == "flow_var":
                var = FlowVar(ins)
                if var.name in index:
                    raise FieldEngineError(f"flow_var {var.name!r} defined twice")
                index[var.name] = len(self.vars)
                self.vars.append(var)
            elif kind in ("write_flow_var", "write_mask_flow_var"):
                if ins["name"] not in index:
                    raise FieldEngineError(f"{kind} of unknown variable {ins['name']!r}")
                var = self.vars[index[ins["name"]]]
                self._ops.append(self._compile_write(ins, var, index[ins["name"]], packet_len))
            elif kind == "fix_checksum_ipv4":
                self._ops.append(self._compile_fix_ipv4(ins["pkt_offset"], packet_len))
            else:
                raise FieldEngineError(f"field-engine instruction {kind!r} is not supported by the local engine")

    @property
    def is_empty(self) -> bool:
        return not self._ops

    @property
    def split_to_cores(self) -> bool:
        """False if any variable asked not to be split (each core then runs the whole sequence)."""
        return all(v.split_to_cores for v in self.vars)

    @property
    def period(self) -> int | None:
        """Packets after which the stream's packets repeat exactly (None: never, random variables)."""
        if self.cache:
            return self.cache
        if not self._ops:
            return 1
        p = 1
        for v in self.vars:
            vp = v.period
            if vp is None:
                return None
            p = p * vp // math.gcd(p, vp)
        return p

    @staticmethod
    def _compile_write(ins: dict[str, Any], var: FlowVar, slot: int, packet_len: int) -> Callable[[bytearray, list[int]], None]:
        off = ins["pkt_offset"]
        big = ins.get("is_big_endian", True)
        add = ins.get("add_value", 0)
        if ins["type"] == "write_flow_var":
            size = var.size
            if off < 0 or off + size > packet_len:
                raise FieldEngineError(f"write of {ins['name']!r} at {off}+{size} is outside the {packet_len}-byte packet")
            pack_into = struct.Struct((_FMT_BIG if big else _FMT_LITTLE)[size]).pack_into
            mask = _MASK[size]

            def write(buf: bytearray, values: list[int]) -> None:
                pack_into(buf, off, (values[slot] + add) & mask)

            return write
        cast = ins["pkt_cast_size"]
        if cast not in (1, 2, 4):
            raise FieldEngineError(f"write_mask_flow_var cast size {cast}")
        if off < 0 or off + cast > packet_len:
            raise FieldEngineError(f"masked write of {ins['name']!r} at {off}+{cast} is outside the packet")
        st = struct.Struct((_FMT_BIG if big else _FMT_LITTLE)[cast])
        field_mask = _MASK[cast]
        mask = ins["mask"] & 0xFFFFFFFF
        shift = ins["shift"]

        def write_mask(buf: bytearray, values: list[int]) -> None:
            val = ((values[slot] & 0xFFFFFFFF) + add) & 0xFFFFFFFF
            if shift > 0:
                val = (val << shift) & 0xFFFFFFFF
            elif shift < 0:
                val >>= -shift
            old = st.unpack_from(buf, off)[0]
            st.pack_into(buf, off, ((old & ~mask) | (val & mask)) & field_mask)

        return write_mask

    @staticmethod
    def _compile_fix_ipv4(off: int, packet_len: int) -> Callable[[bytearray, list[int]], None]:
        if off < 0 or off + 20 > packet_len:
            raise FieldEngineError(f"fix_checksum_ipv4 at {off}: no IPv4 header there")

        def fix(buf: bytearray, values: list[int]) -> None:
            ihl = (buf[off] & 0x0F) * 4
            end = off + max(ihl, 20)
            buf[off + 10 : off + 12] = b"\0\0"
            c = inet_checksum(buf[off:end])
            buf[off + 10] = c >> 8
            buf[off + 11] = c & 0xFF

        return fix

    def packets(self, base: bytes, count: int) -> list[bytes]:
        """Packets 0 .. count-1 of the stream (a fresh generator: random streams restart from the seed)."""
        base = bytes(base)
        if not self._ops:
            return [base] * count
        rng = TrexRandom(self.seed)
        out = []
        vars_ = self.vars
        ops = self._ops
        limit = self.cache
        for k in range(count):
            if limit and k >= limit:
                out.append(out[k % limit])
                continue
            values = [v.value(k, rng) for v in vars_]
            buf = bytearray(base)
            for op in ops:
                op(buf, values)
            out.append(bytes(buf))
        return out
