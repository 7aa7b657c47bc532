"""The fast ESP path produces scapy SecurityAssociation's bytes, and checks what it receives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.ipsec import SecurityAssociation, ESP

from dmvpn.wire import templates as T
from dmvpn.wire.esp import ALGORITHMS, EspError, EspSA, IntegrityError, ReplayError, UnknownSpi, nat_keepalive

SCAPY_ALGOS = {
    "aes-gcm-128": ("AES-GCM", None),
    "aes-gcm-256": ("AES-GCM", None),
    "aes-cbc-128-hmac-sha1-96": ("AES-CBC", "HMAC-SHA1-96"),
    "aes-cbc-256-hmac-sha1-96": ("AES-CBC", "HMAC-SHA1-96"),
    "aes-cbc-128-hmac-sha256-128": ("AES-CBC", "SHA2-256-128"),
    "aes-cbc-256-hmac-sha256-128": ("AES-CBC", "SHA2-256-128"),
}
AUTH_KEY = bytes(range(32))


def _keys(name: str) -> bytes:
    algo = ALGORITHMS[name]
    return bytes(range(100, 100 + algo.key_len + (4 if algo.aead else 0)))


def _registration(reqid: int = 1) -> bytes:
    return T.registration_request(
        outer_src="192.0.2.129", outer_dst="192.0.2.1", src_proto="10.255.0.129", dst_proto="10.255.0.1", gre_key=42, reqid=reqid
    ).packet


def _pair(name, **kw):
    algo = ALGORITHMS[name]
    crypt, auth = SCAPY_ALGOS[name]
    auth_key = AUTH_KEY[: 20 if "sha1" in name else 32] if not algo.aead else b""
    ours = EspSA(0x1001, name, _keys(name), auth_key=auth_key, **kw)
    scapy_kw = {}
    if kw.get("nat_t"):
        scapy_kw["nat_t_header"] = UDP(sport=kw["nat_t"][0], dport=kw["nat_t"][1])
    if kw.get("mode") == "tunnel":
        scapy_kw["tunnel_header"] = IP(src=kw["tunnel"][0], dst=kw["tunnel"][1])
    if kw.get("esn"):
        scapy_kw.update(esn_en=True, esn=kw.get("seq", 1) >> 32)
    ref = SecurityAssociation(
        ESP, spi=0x1001, seq_num=kw.get("seq", 1) & 0xFFFFFFFF, crypt_algo=crypt, crypt_key=_keys(name),
        auth_algo=auth, auth_key=auth_key or None, **scapy_kw,
    )
    return ours, ref


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
@pytest.mark.parametrize("variant", ["transport", "nat-t", "tunnel", "esn"])
def test_same_bytes_as_scapy(name, variant) -> None:
    kw = {}
    if variant == "nat-t":
        kw["nat_t"] = (4500, 4500)
    if variant == "tunnel":
        kw.update(mode="tunnel", tunnel=("198.51.100.1", "198.51.100.2"))
    if variant == "esn":
        kw.update(esn=True, seq=(7 << 32) | 5)
    ours, ref = _pair(name, **kw)
    packet = _registration()
    iv = bytes(range(ALGORITHMS[name].iv_len))
    mine = ours.protect(packet, iv=iv)
    theirs = bytes(ref.encrypt(IP(packet), iv=iv))
    assert mine == theirs
    # and our receiving side gets the original back from scapy's bytes
    inbound, _ = _pair(name, **kw)
    if variant == "esn":
        inbound.window.top = kw["seq"] - 1  # a receiver that has followed this SA so far
    got = inbound.unprotect(theirs)
    assert got.packet == packet
    assert got.next_header == (47 if variant != "tunnel" else 4)


def test_scapy_decrypts_ours() -> None:
    ours, ref = _pair("aes-gcm-128")
    packet = _registration()
    assert bytes(ref.decrypt(IP(ours.protect(packet)))) == packet


def test_flipped_icv_bit_is_refused_and_does_not_move_the_window() -> None:
    out, _ = _pair("aes-cbc-128-hmac-sha256-128")
    inbound, _ = _pair("aes-cbc-128-hmac-sha256-128")
    bad = bytearray(out.protect(_registration()))
    bad[-1] ^= 1
    with pytest.raises(IntegrityError):
        inbound.unprotect(bytes(bad))
    assert inbound.window.top == 0


def test_replay_and_window() -> None:
    out, _ = _pair("aes-gcm-128")
    inbound, _ = _pair("aes-gcm-128")
    packets = [out.protect(_registration(i)) for i in range(100)]
    inbound.unprotect(packets[99])  # seq 100
    with pytest.raises(ReplayError):
        inbound.unprotect(packets[99])  # replayed
    with pytest.raises(ReplayError):
        inbound.unprotect(packets[10])  # seq 11 < 100 - 64 + 1: left of the window
    inbound.unprotect(packets[50])  # seq 51: inside the window, first time
    with pytest.raises(ReplayError):
        inbound.unprotect(packets[50])


def test_unknown_spi_and_keepalive() -> None:
    out = EspSA(0x2002, "aes-gcm-128", bytes(20))
    inbound, _ = _pair("aes-gcm-128")
    with pytest.raises(UnknownSpi):
        inbound.unprotect(out.protect(_registration()))
    with pytest.raises(EspError, match="keepalive"):
        inbound.unprotect(nat_keepalive("192.0.2.129", "192.0.2.1"))


def test_reserved_spi_refused() -> None:
    with pytest.raises(EspError):
        EspSA(255, "aes-gcm-128", bytes(20))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 2**40), st.integers(0, 300))
def test_esn_inference_follows_the_sender(start, count) -> None:
    out = EspSA(0x1001, "aes-gcm-128", bytes(20), esn=True, seq=start)
    inbound = EspSA(0x1001, "aes-gcm-128", bytes(20), esn=True)
    inbound.window.top = start - 1 if start > 1 else 0
    for _ in range(min(count, 40)):
        got = inbound.unprotect(out.protect(_registration()))
        assert got.seq == out.seq - 1


@pytest.mark.parametrize("size", [0, 1, 2, 3, 57, 1000])
def test_gcm_padding_aligns_to_4_bytes(size) -> None:
    sa = EspSA(0x1234, "aes-gcm-128", bytes(20), seq=7)
    plain = T.encode_ipv4_gre(bytes(size), src="192.0.2.129", dst="192.0.2.1", key=42, proto=0x0800)
    esp = sa.protect(plain)
    assert sa.seq == 8
    assert (len(esp) - 20 - 8 - 8 - 16) % 4 == 0  # payload + pad + 2 aligned to 4 bytes (RFC 4303 §2.4)
    got = EspSA(0x1234, "aes-gcm-128", bytes(20)).unprotect(esp)
    assert (got.spi, got.seq, got.next_header, got.packet) == (0x1234, 7, 47, plain)


def test_sequence_exhaustion_without_esn() -> None:
    sa = EspSA(0x1234, "aes-gcm-128", bytes(20), seq=0xFFFFFFFF)
    sa.protect(_registration())
    with pytest.raises(EspError, match="exhausted"):
        sa.protect(_registration())
