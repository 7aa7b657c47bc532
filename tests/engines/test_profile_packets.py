"""The local engine's packets for each profile, byte for byte, against independently built packets.

Expected packets are built here from dmvpn.wire.templates (compiled per spoke with the final field
values, not patched), from scapy (inner data packets, GRE) and, for ESP, decrypted with
`cryptography` directly and with scapy's SecurityAssociation as a second oracle. NHRP checksums
are checked with dmvpn.wire.checksum.nhrp_checksum_ok, IPv4 header checksums recomputed.
"""

from __future__ import annotations

import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from scapy.layers.inet import IP, UDP
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.layers.l2 import GRE
from scapy.packet import Raw

from dmvpn.wire.esp import EspSA
from dmvpn.engines.local import LocalEngine
from dmvpn.wire import templates as T
from dmvpn.wire.checksum import inet_checksum, nhrp_checksum_ok

from .conftest import PROFILES

ETH = bytes.fromhex("020000000002" "020000000001" "0800")
HUB = "192.0.2.1"


def engine() -> LocalEngine:
    return LocalEngine(src_mac=None)  # keep the template MACs: no interface needed to compute frames


def nbma(i: int) -> str:
    if i < 127:
        return f"192.0.2.{128 + i}"
    if i < 127 + 254:
        return f"198.51.100.{i - 127 + 1}"
    return f"203.0.113.{i - 381 + 1}"


def tunnel(i: int) -> str:
    return f"10.255.0.{2 + i}"


def nhrp_part(frame: bytes, gre_len: int = 8) -> bytes:
    start = 14 + 20 + gre_len
    pktsz = struct.unpack_from("!H", frame, start + 10)[0]
    return frame[start : start + pktsz]


def assert_ipv4_ok(frame: bytes, offset: int = 14) -> None:
    assert inet_checksum(frame[offset : offset + 20]) == 0


def scapy_inner(src: str, dst: str, size: int, sport: int = 1024) -> bytes:
    pkt = IP(src=src, dst=dst, id=0, ttl=64) / UDP(sport=sport, dport=9, chksum=0) / Raw(bytes(size - 28))
    return bytes(pkt)


def scapy_gre(src: str, dst: str, inner: bytes, key: int | None = 42, ip_id: int = 1) -> bytes:
    gre = GRE(proto=0x0800) if key is None else GRE(key_present=1, key=key, proto=0x0800)
    return bytes(IP(src=src, dst=dst, id=ip_id, ttl=64) / gre / Raw(inner))


# --------------------------------------------------------------------------------------------------
# NHRP storms


@pytest.mark.parametrize("spokes", [1, 50, 130])
def test_registration_storm_frames(spokes: int) -> None:
    frames = engine().frames(PROFILES / "registration_storm.py", {"spokes": spokes})
    assert len(frames) == spokes
    for i, frame in enumerate(frames):
        expect = T.registration_request(
            outer_src=nbma(i), outer_dst=HUB, src_proto=tunnel(i), dst_proto="10.255.0.1", gre_key=42, reqid=1 + i
        ).packet
        assert frame == ETH + expect, f"spoke {i}"
        assert nhrp_checksum_ok(nhrp_part(frame))
        assert_ipv4_ok(frame)


def test_registration_storm_with_auth_nat_and_rounds() -> None:
    tun = {"spokes": 20, "rounds": 2, "password": "cisco", "nat_ext": True, "mtu": 1400, "reqid_base": 0xFFFFFFF0, "hopcnt": 1}
    frames = engine().frames(PROFILES / "registration_storm.py", tun)
    assert len(frames) == 40
    for k, frame in enumerate(frames):
        i = k % 20
        expect = T.registration_request(
            outer_src=nbma(i), outer_dst=HUB, src_proto=tunnel(i), dst_proto="10.255.0.1", gre_key=42,
            reqid=(0xFFFFFFF0 + k) & 0xFFFFFFFF, password="cisco", nhs_nbma=HUB, nhs_proto="10.255.0.1", mtu=1400, hopcnt=1,
        ).packet  # fmt: skip
        assert frame == ETH + expect, f"packet {k}"
        assert nhrp_checksum_ok(nhrp_part(frame))


def test_registration_storm_without_key_and_not_unique() -> None:
    frames = engine().frames(PROFILES / "registration_storm.py", {"spokes": 3, "gre_key": -1, "unique": False})
    for i, frame in enumerate(frames):
        expect = T.registration_request(outer_src=nbma(i), outer_dst=HUB, src_proto=tunnel(i), dst_proto="10.255.0.1", reqid=1 + i, flags=0x0002).packet
        assert frame == ETH + expect
        assert nhrp_checksum_ok(nhrp_part(frame, gre_len=4))


def test_ten_thousand_spokes_replay_exactly() -> None:
    wide = {"spokes": 10000, "nbma_pools": "100.64.0.0/16", "tunnel_net": "10.255.0.0/16"}
    frames = engine().frames(PROFILES / "registration_storm.py", wide)
    assert len(set(frames)) == 10000
    for i in (0, 1, 253, 254, 4095, 9999):
        a = 1 + i
        src = f"100.64.{a >> 8}.{a & 255}"
        t = 2 + i
        proto = f"10.255.{t >> 8}.{t & 255}"
        expect = T.registration_request(outer_src=src, outer_dst=HUB, src_proto=proto, dst_proto="10.255.0.1", gre_key=42, reqid=1 + i).packet
        assert frames[i] == ETH + expect, f"spoke {i}"
    assert all(nhrp_checksum_ok(nhrp_part(f)) for f in frames)


@pytest.mark.parametrize("target", ["tunnel", "lan"])
def test_resolution_storm_frames(target: str) -> None:
    frames = engine().frames(PROFILES / "resolution_storm.py", {"spokes": 12, "targets": 2, "target": target})
    assert len(frames) == 24
    k = 0
    for j in (1, 2):
        for i in range(12):
            peer = (i + j) % 12
            dst = tunnel(peer) if target == "tunnel" else f"10.{100 + peer}.0.1"
            expect = T.resolution_request(outer_src=nbma(i), outer_dst=HUB, src_proto=tunnel(i), dst_proto=dst, gre_key=42, reqid=1 + k).packet
            assert frames[k] == ETH + expect, f"packet {k}"
            assert nhrp_checksum_ok(nhrp_part(frames[k]))
            k += 1


# --------------------------------------------------------------------------------------------------
# data


def test_hairpin_frames_cycle_through_pairs_and_flows() -> None:
    frames = engine().frames(PROFILES / "hairpin.py", {"pairs": 3, "flows": 4, "count": 30, "size": 200})
    assert len(frames) == 30
    expected = []
    for p in range(3):
        a, b = 2 * p, 2 * p + 1
        for f in range(4):
            inner = scapy_inner(f"10.{100 + a}.0.{10 + f}", f"10.{100 + b}.0.10", 200, sport=1024 + f)
            expected.append(ETH + scapy_gre(nbma(a), HUB, inner))
    assert frames == [expected[k % 12] for k in range(30)]
    frames_b = engine().frames(PROFILES / "hairpin.py", {"pairs": 1, "count": 1})
    assert frames_b[0][26:34] == bytes([192, 0, 2, 128, 192, 0, 2, 1])


def test_hairpin_continuous_is_one_stream() -> None:
    plans = engine().compile(PROFILES / "hairpin.py")
    assert len(plans) == 1 and plans[0].mode == "continuous" and plans[0].pps == 10.0


@pytest.mark.parametrize(("size", "path"), [("64", "direct"), ("1400", "hub"), ("imix", "both")])
def test_spoke_data_field_engine(size: str, path: str) -> None:
    flows = 7
    eng = engine()
    tun = {"size": size, "path": path, "count": 40, "flows": flows}
    plans = eng.compile(PROFILES / "spoke_data.py", tun)
    sizes = {"64": [64], "1400": [1400], "imix": [64, 576, 1400]}[size]
    paths = {"hub": ["hub"], "direct": ["direct"], "both": ["hub", "direct"]}[path]
    assert [p.name for p in plans] == [f"{pa}_{s}" for pa in paths for s in sizes]
    if size == "imix":  # 7:4:1 per path, 10 000 pps shared
        assert [round(p.pps, 3) for p in plans[:3]] == [round(10000 * w / 24, 3) for w in (7, 4, 1)]
    for plan, (pa, s) in zip(plans, [(pa, s) for pa in paths for s in sizes]):
        dst = HUB if pa == "hub" else nbma(1)
        frames = eng.frames(PROFILES / "spoke_data.py", tun, stream=plan.index)
        assert len(frames) == 40
        for k, frame in enumerate(frames):
            inner_off = 14 + 20 + 8
            sport = struct.unpack_from("!H", frame, inner_off + 20)[0]
            assert 1024 <= sport <= 65535
            inner = scapy_inner(f"10.100.0.{1 + k % flows}", "10.101.0.10", s, sport=sport)
            expect = ETH + scapy_gre(nbma(0), dst, inner, ip_id=k)
            assert frame == expect, f"{plan.name} packet {k}"
            assert_ipv4_ok(frame, 14)
            assert_ipv4_ok(frame, inner_off)


# --------------------------------------------------------------------------------------------------
# ESP

KEY = bytes(range(16))
SALT = bytes.fromhex("a0a1a2a3")


def esp_frames(tunables: dict) -> list[bytes]:
    eng = engine()
    plans = eng.compile(PROFILES / "esp_data.py", tunables)
    # a chain of single-packet streams: the frames in chain order
    order, i = [], 0
    while i is not None:
        order.append(plans[i].cycle[0])
        assert plans[i].total == 1
        i = plans[i].next
    assert len(order) == len(plans)
    return order


def test_esp_frames_decrypt_to_the_gre_packet_with_increasing_sequence_numbers() -> None:
    frames = esp_frames({"count": 64})
    plain = scapy_gre(nbma(0), HUB, scapy_inner("10.100.0.1", "10.101.0.10", 100))
    aead = AESGCM(KEY)
    for k, frame in enumerate(frames):
        ip = frame[14:]
        assert ip[9] == 50 and inet_checksum(ip[:20]) == 0
        spi, seq = struct.unpack_from("!II", ip, 20)
        assert (spi, seq) == (0x1001, 1 + k)
        iv = ip[28:36]
        assert iv == struct.pack("!Q", seq)
        pt = aead.decrypt(SALT + iv, ip[36:], ip[20:28])  # nonce = salt||IV, AAD = SPI||seq (RFC 4106)
        pad_len, nh = pt[-2], pt[-1]
        assert nh == 47 and len(pt) % 4 == 0
        assert pt[: len(pt) - 2 - pad_len] == plain[20:]
        assert pt[len(pt) - 2 - pad_len : -2] == bytes(range(1, pad_len + 1))


def test_esp_frames_against_scapy_security_association() -> None:
    frames = esp_frames({"count": 8, "first_seq": 500})
    sa = SecurityAssociation(ESP, spi=0x1001, crypt_algo="AES-GCM", crypt_key=KEY + SALT, crypt_icv_size=16)
    plain = scapy_gre(nbma(0), HUB, scapy_inner("10.100.0.1", "10.101.0.10", 100))
    for k, frame in enumerate(frames):
        pkt = IP(frame[14:])
        assert pkt[ESP].seq == 500 + k
        clear = sa.decrypt(pkt)
        assert bytes(clear)[20:] == plain[20:]
        assert clear.proto == 47


def test_esp_nat_t_registration_payload() -> None:
    frames = esp_frames({"count": 5, "nat_t": True, "payload": "registration", "first_seq": 1000})
    sa = EspSA(0x1001, "aes-gcm-128", KEY + SALT, nat_t=(4500, 4500))
    reg = T.registration_request(outer_src=nbma(0), outer_dst=HUB, src_proto=tunnel(0), dst_proto="10.255.0.1", gre_key=42, reqid=1000).packet
    for k, frame in enumerate(frames):
        ip = frame[14:]
        assert ip[9] == 17 and ip[20:24] == bytes.fromhex("11941194") and ip[26:28] == b"\0\0"
        out = sa.unprotect(ip)
        assert out.seq == 1000 + k and out.next_header == 47
        assert out.packet == reg
        assert nhrp_checksum_ok(out.packet[28:])


def test_esp_profile_is_a_chain_that_does_not_loop() -> None:
    plans = engine().compile(PROFILES / "esp_data.py", {"count": 5})
    assert [p.self_start for p in plans] == [True, False, False, False, False]
    assert [p.next for p in plans] == [1, 2, 3, 4, None]
    assert LocalEngine.expected_packets(plans) == 5
