"""Decoding arbitrary bytes never lets an exception escape; malformed input is marked, bytes kept."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmvpn.wire.catalog import valid_examples
from dmvpn.wire.decode import Decoded, decode_nhrp
from dmvpn.wire.nhrp import NHRP
from dmvpn.wire.wireshark import wireshark_fields

SEEDS = [bytes(e.packet[NHRP]) for e in valid_examples()]


def _examples(config: pytest.Config, default: int) -> int:
    value = config.getoption("--fuzz-examples")
    if value is not None:
        return value
    return 200_000 if config.getoption("--run-slow") else default


def _check(data: bytes) -> None:
    decoded = decode_nhrp(data)
    assert isinstance(decoded, Decoded)
    if decoded.packet is not None:
        # Re-encoding and the Wireshark view must not raise either.
        bytes(decoded.packet)
        wireshark_fields(decoded.packet, data)
    else:
        assert decoded.malformed and decoded.remainder == data


@st.composite
def mutated(draw) -> bytes:
    """A valid packet with a few bytes overwritten, cut short or extended: the nasty neighbourhood."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    tail = draw(st.binary(max_size=16))
    return bytes(data[:cut]) + tail if draw(st.booleans()) else bytes(data) + tail


@pytest.fixture
def fuzz_settings(request):
    return settings(
        max_examples=_examples(request.config, 5_000),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )


def test_decode_arbitrary_bytes_never_raises(fuzz_settings) -> None:
    fuzz_settings(given(st.binary(max_size=300))(_check))()


def test_decode_mutated_packets_never_raises(fuzz_settings) -> None:
    fuzz_settings(given(mutated())(_check))()


def test_short_input_is_malformed_and_kept() -> None:
    decoded = decode_nhrp(b"\x00\x01\x08")
    assert decoded.malformed and decoded.packet is None and decoded.remainder == b"\x00\x01\x08"


def test_truncated_extension_is_marked_and_its_bytes_kept() -> None:
    good = SEEDS[0]
    cut = good[:-6]  # inside the NAT extension's CIE / before End
    data = bytearray(cut)
    data[10:12] = len(cut).to_bytes(2, "big")
    decoded = decode_nhrp(bytes(data))
    assert decoded.malformed
    assert decoded.remainder and decoded.remainder in bytes(data)


@pytest.mark.slow
def test_long_fuzz_run(request) -> None:
    settings(max_examples=_examples(request.config, 200_000), deadline=None, suppress_health_check=list(HealthCheck), database=None)(
        given(st.one_of(st.binary(max_size=600), mutated()))(_check)
    )()
