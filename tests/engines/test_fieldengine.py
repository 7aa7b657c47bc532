"""Field-engine semantics (dmvpn.engines.fieldengine) against hand-computed values, and the engine's timing.

Expected values come from TRex's rules worked by hand (trex-core trex_stl_stream_vm.h inc_mod/
dec_mod, value lists, fastrand) and from TRex's own docstrings, not from the implementation.
"""

from __future__ import annotations

import pytest

from dmvpn.engines import stl_shim as S
from dmvpn.engines.fieldengine import FieldEngineError, Program, TrexRandom
from dmvpn.engines.local import Lane, StreamPlan, _Cursor, lane_sequence
from dmvpn.wire.checksum import inet_checksum


def program(instructions, cache=None, seed=0, packet_len=64):
    vm = S.STLScVmRaw(instructions, cache_size=cache).compile()
    return Program(vm, packet_len, seed=seed)


def values_at(instructions, offset, size, n, **kw):
    base = bytes(64)
    return [int.from_bytes(p[offset : offset + size], "big") for p in program(instructions, **kw).packets(base, n)]


def var_and_write(size=1, **var):
    return [S.STLVmFlowVar(name="v", size=size, **var), S.STLVmWrFlowVar(fv_name="v", pkt_offset=0)]


def test_inc_wraps_like_trex_inc_mod() -> None:
    # 1..10 step 3 from 1: 10 -> 1 + (3 - 0 - 1) = 3, 9 -> 2, 8 -> 1 (trex inc_mod)
    got = values_at(var_and_write(size=2, min_value=1, max_value=10, step=3, op="inc"), 0, 2, 11)
    assert got == [1, 4, 7, 10, 3, 6, 9, 2, 5, 8, 1]


def test_dec_starts_at_max_by_default_and_at_init_value_when_given() -> None:
    assert values_at(var_and_write(min_value=0, max_value=3, op="dec"), 0, 1, 6) == [3, 2, 1, 0, 3, 2]
    # TRex docstring: STLVmFlowVar(min_value=0, max_value=3, size=1, op="dec") "output 0,3,2,1,0,3,2,1"
    assert values_at(var_and_write(init_value=0, min_value=0, max_value=3, op="dec"), 0, 1, 8) == [0, 3, 2, 1, 0, 3, 2, 1]


def test_inc_from_an_init_value_inside_the_range() -> None:
    assert values_at(var_and_write(init_value=8, min_value=5, max_value=9, op="inc"), 0, 1, 5) == [8, 9, 5, 6, 7]


def test_step_larger_than_the_range_is_taken_modulo() -> None:
    # range 0..4 (5 values), step 7 -> 2: 0, 2, 4, 1, 3, 0
    assert values_at(var_and_write(min_value=0, max_value=4, step=7, op="inc"), 0, 1, 6) == [0, 2, 4, 1, 3, 0]


def test_value_lists_as_trex_documents_them() -> None:
    # TRex docstring: value_list=[9,0,4,7,5] op="dec" -> "5,7,4,0,9,5,7,.."
    assert values_at(var_and_write(value_list=[9, 0, 4, 7, 5], op="dec"), 0, 1, 7) == [5, 7, 4, 0, 9, 5, 7]
    assert values_at(var_and_write(value_list=[9, 0, 4, 7, 5], op="inc"), 0, 1, 7) == [9, 0, 4, 7, 5, 9, 0]
    assert values_at(var_and_write(value_list=[9, 0, 4, 7, 5], op="inc", step=2), 0, 1, 6) == [9, 4, 5, 0, 7, 9]


def test_ipv4_strings_in_ranges_become_addresses() -> None:
    got = values_at(var_and_write(size=4, min_value="192.0.2.254", max_value="192.0.3.1", op="inc"), 0, 4, 5)
    assert got == [0xC00002FE, 0xC00002FF, 0xC0000300, 0xC0000301, 0xC00002FE]


def test_fastrand_is_the_msvc_lcg() -> None:
    rng = TrexRandom(1)  # srand(1); rand() -> 41, 18467, 6334, 26500, 19169 (MSVC's classic sequence)
    assert [rng.rand16() for _ in range(5)] == [41, 18467, 6334, 26500, 19169]
    rng = TrexRandom(1)
    assert rng.rand32() == (41 << 16) + 18467


def test_random_values_with_a_seed() -> None:
    # size 2: one draw each, min + r % range: 100 + 41 % 100, 100 + 18467 % 100, ...
    instructions = [S.STLVmFlowVar(name="r", min_value=100, max_value=199, size=2, op="random"),
                    S.STLVmWrFlowVar(fv_name="r", pkt_offset=2)]  # fmt: skip
    assert values_at(instructions, 2, 2, 4, seed=1) == [141, 167, 134, 100]
    four = [S.STLVmFlowVar(name="r", min_value=0, max_value=0xFFFFFFFF, size=4, op="random"), S.STLVmWrFlowVar(fv_name="r", pkt_offset=0)]
    assert values_at(four, 0, 4, 1, seed=1) == [(41 << 16) + 18467]


def test_random_stays_in_range_and_covers_it() -> None:
    got = values_at(var_and_write(size=2, min_value=1000, max_value=1009, op="random"), 0, 2, 2000)
    assert set(got) == set(range(1000, 1010))
    assert program(var_and_write(size=2, min_value=0, max_value=5, op="random")).period is None


def test_write_add_value_truncates_to_the_variable_size_and_little_endian() -> None:
    ins = [S.STLVmFlowVar(name="v", init_value=250, min_value=250, max_value=255, size=1, op="inc"),
           S.STLVmWrFlowVar(fv_name="v", pkt_offset=3, add_val=10)]  # fmt: skip
    assert values_at(ins, 3, 1, 3) == [4, 5, 6]  # 260, 261, 262 mod 256
    ins = [S.STLVmFlowVar(name="v", init_value=0x1234, min_value=0x1234, max_value=0x1240, size=2),
           S.STLVmWrFlowVar(fv_name="v", pkt_offset=0, is_big=False)]  # fmt: skip
    p = program(ins).packets(bytes(8), 2)
    assert p[0][:2] == b"\x34\x12" and p[1][:2] == b"\x35\x12"


def test_offset_fixup_moves_the_write() -> None:
    ins = [S.STLVmFlowVar(name="v", min_value=7, max_value=7, size=1), S.STLVmWrFlowVar(fv_name="v", pkt_offset=10, offset_fixup=-4)]
    assert program(ins).packets(bytes(16), 1)[0][6] == 7


def test_masked_writes_as_in_trex_examples() -> None:
    base = bytes(range(16))
    # example 1: 2-byte variable, 1-byte field, mask 0xff -> the low byte
    ins = [S.STLVmFlowVar(name="m", min_value=0x0102, max_value=0x0102, size=2), S.STLVmWrMaskFlowVar(fv_name="m", pkt_offset=11, pkt_cast_size=1, mask=0xFF)]
    assert program(ins).packets(base, 1)[0][11] == 0x02
    # example 2: shift 8 into the high byte of a 2-byte field, low byte kept
    ins = [S.STLVmFlowVar(name="m", min_value=5, max_value=5, size=2), S.STLVmWrMaskFlowVar(fv_name="m", pkt_offset=10, pkt_cast_size=2, mask=0xFF00, shift=8)]
    assert program(ins).packets(base, 1)[0][10:12] == bytes([0x05, 11])
    # example 3: shift -1, mask 0x1: bit 0 flips every two packets
    ins = [S.STLVmFlowVar(name="m", min_value=0, max_value=3, size=2), S.STLVmWrMaskFlowVar(fv_name="m", pkt_offset=4, pkt_cast_size=1, mask=0x1, shift=-1)]
    assert [p[4] for p in program(ins).packets(bytes(8), 4)] == [0, 0, 1, 1]


def test_fix_ipv4_gives_the_textbook_checksum() -> None:
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")  # checksum b861: the usual worked example of the IPv4 header checksum
    ins = [S.STLVmFixIpv4(offset=2)]
    out = program(ins, packet_len=22).packets(b"\xaa\xbb" + header, 1)[0]
    assert out[12:14] == bytes.fromhex("b861")
    assert inet_checksum(out[2:22]) == 0


def test_fix_ipv4_after_writing_the_source() -> None:
    header = bytearray.fromhex("450000730000400040110000c0a80001c0a800c7")
    ins = [S.STLVmFlowVar(name="s", min_value="192.0.2.1", max_value="192.0.2.3", size=4), S.STLVmWrFlowVar(fv_name="s", pkt_offset=12), S.STLVmFixIpv4(offset=0)]
    for k, pkt in enumerate(program(ins, packet_len=20).packets(bytes(header), 3)):
        expect = bytearray(header)
        expect[12:16] = bytes([192, 0, 2, 1 + k])
        expect[10:12] = inet_checksum(expect).to_bytes(2, "big")
        assert pkt == bytes(expect)


def test_instructions_are_compiled_in_the_clients_order() -> None:
    # writes listed before the second variable still see it stepped: variables run first
    ins = [S.STLVmFlowVar(name="a", min_value=1, max_value=9, size=1), S.STLVmWrFlowVar(fv_name="a", pkt_offset=0),
           S.STLVmFlowVar(name="b", min_value=5, max_value=9, size=1), S.STLVmWrFlowVar(fv_name="b", pkt_offset=1)]  # fmt: skip
    vm = S.STLScVmRaw(ins).compile()
    assert [i["type"] for i in vm["instructions"]] == ["flow_var", "flow_var", "write_flow_var", "write_flow_var"]
    assert [p[:2] for p in Program(vm, 4).packets(bytes(4), 2)] == [b"\x01\x05", b"\x02\x06"]


def test_cache_repeats_the_first_packets_and_periods() -> None:
    assert values_at(var_and_write(min_value=0, max_value=9), 0, 1, 7, cache=3) == [0, 1, 2, 0, 1, 2, 0]
    two = [S.STLVmFlowVar(name="a", min_value=0, max_value=3, size=1), S.STLVmFlowVar(name="b", min_value=0, max_value=5, size=1),
           S.STLVmWrFlowVar(fv_name="a", pkt_offset=0), S.STLVmWrFlowVar(fv_name="b", pkt_offset=1)]  # fmt: skip
    assert program(two).period == 12
    assert program([]).period == 1


def test_unsupported_programs_are_refused() -> None:
    chained = S.STLScVmRaw([S.STLVmFlowVar(name="a", size=1, next_var="b"), S.STLVmFlowVar(name="b", size=1)]).compile()
    with pytest.raises(FieldEngineError, match="next_var"):
        Program(chained, 64)
    with pytest.raises(FieldEngineError, match="not supported"):
        Program({"instructions": [{"type": "trim_pkt_size", "name": "x"}]}, 64)
    with pytest.raises(FieldEngineError, match="outside"):
        program(var_and_write(size=4, min_value=0, max_value=1) [:1] + [S.STLVmWrFlowVar(fv_name="v", pkt_offset=62)])


def test_shim_refuses_what_it_cannot_mean() -> None:
    with pytest.raises(S.TRexError, match="numeric offset"):
        S.STLVmWrFlowVar(fv_name="v", pkt_offset="IP.src")
    with pytest.raises(S.TRexError, match="pkt_buffer"):
        S.STLPktBuilder(pkt=object())
    with pytest.raises(S.TRexError, match="does not exist"):
        S.STLPktBuilder(pkt_buffer=bytes(20), vm=[S.STLVmWrFlowVar(fv_name="nope", pkt_offset=0)])
    with pytest.raises(S.TRexError, match="Continuous"):
        S.STLStream(packet=S.STLPktBuilder(pkt_buffer=bytes(20)), mode=S.STLTXCont(), next="x")


# --------------------------------------------------------------------------------------------------
# splitting across workers and timing


def plan(mode="single_burst", total=10, pps=100.0, ppb=1, ibg=0.0, cycle=None, split=True):
    vm = S.STLScVmRaw([S.STLVmFlowVar(name="v", size=1, min_value=0, max_value=9, split_to_cores=split), S.STLVmWrFlowVar(fv_name="v", pkt_offset=0)]).compile()
    return StreamPlan(index=0, name=None, json={}, program=Program(vm, 1), frame_len=1, pps=pps, mode=mode, total=total,
                      pkts_per_burst=ppb, ibg=ibg, isg=0.0, self_start=True, next=None, action_count=0,
                      cycle=cycle or [bytes([i]) for i in range(10)])  # fmt: skip


def test_split_lanes_interleave_like_trex_cores() -> None:
    p = plan()
    assert lane_sequence(p, Lane(0, 0, 2), True) == [bytes([i]) for i in (0, 2, 4, 6, 8)]
    assert lane_sequence(p, Lane(0, 1, 2), True) == [bytes([i]) for i in (1, 3, 5, 7, 9)]
    assert lane_sequence(p, Lane(0, 1, 3), True) == [bytes([i]) for i in (1, 4, 7, 0, 3, 6, 9, 2, 5, 8)]
    copies = plan(split=False)
    assert lane_sequence(copies, Lane(0, 1, 2), True) == copies.cycle  # split_to_cores=False: every core from the start


def test_due_counts_follow_the_rate() -> None:
    p = plan(total=10, pps=100.0)
    c = _Cursor(Lane(0), [p], {0: None}, 0.0)
    assert [c.due(t) for t in (0.0, 0.0399, 0.04, 5.0)] == [1, 4, 5, 10]
    half = _Cursor(Lane(0, 1, 2), [p], {0: None}, 0.0)  # packets 1, 3, 5, 7, 9 at 10 ms each
    assert half.local_total == 5
    assert [half.due(t) for t in (0.0, 0.0101, 0.0501, 1.0)] == [0, 1, 3, 5]
    multi = plan(mode="multi_burst", total=6, ppb=3, ibg=0.1)  # bursts at 0 and 0.13 s
    m = _Cursor(Lane(0), [multi], {0: None}, 0.0)
    assert [m.due(t) for t in (0.0, 0.025, 0.1, 0.1301, 1.0)] == [1, 3, 3, 4, 6]
    assert m.due_time(3) == pytest.approx(0.13)
