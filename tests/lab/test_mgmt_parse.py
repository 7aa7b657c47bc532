"""Parsers of the management plane, on output captured from FRR 8.4.4 / iproute2 6.1 in the lab."""

from __future__ import annotations

from dmvpn.lab.mgmt import json_documents, parse_link_stats, parse_nhrp_cache, parse_nhs, parse_shortcuts, parse_xfrm_states

CACHE_JSON = """{
  "attr":{
    "entriesCount":2
  },
  "table":[
    {"interface":"gre1","type":"local","protocol":"10.255.0.1","nbma":"192.0.2.1",
     "claimed_nbma":"192.0.2.1","used":false,"timeout":false,"auth":false,"identity":"-"},
    {"interface":"gre1","type":"dynamic","protocol":"10.255.0.12","nbma":"192.0.2.12",
     "claimed_nbma":"192.0.2.12","used":false,"timeout":true,"auth":true,"identity":""}
  ]
}"""

XFRM = """\
src 192.0.2.11 dst 192.0.2.1
\tproto esp spi 0x00010b01(68353) reqid 2817(0x00000b01) mode transport
\treplay-window 0 seq 0x00000000 flag  (0x00000000)
\taead rfc4106(gcm(aes)) 0x69864584ec523f8171109c917e7cf698870094b5 (160 bits) 128
\tanti-replay context: seq 0x0, oseq 0x0, bitmap 0x00000000
\tsel src 192.0.2.11/32 dst 192.0.2.1/32 proto gre uid 0
\tlifetime config:
\t  limit: soft (INF)(bytes), hard (INF)(bytes)
\t  limit: soft (INF)(packets), hard (INF)(packets)
\t  expire add: soft 0(sec), hard 0(sec)
\t  expire use: soft 0(sec), hard 0(sec)
\tlifetime current:
\t  284(bytes), 3(packets)
\t  add 2026-11-28 07:34:06 use 2026-11-28 07:34:07
\tstats:
\t  replay-window 0 replay 0 failed 0
src 192.0.2.1 dst 192.0.2.11
\tproto esp spi 0x0001010b(65803) reqid 267(0x0000010b) mode transport
\treplay-window 0 seq 0x00000000 flag  (0x00000000)
\taead rfc4106(gcm(aes)) 0x6af3cfd83d51f6ff10a0a183cc704551c276a9b8 (160 bits) 128
\tlifetime current:
\t  304(bytes), 3(packets)
\tstats:
\t  replay-window 0 replay 0 failed 2
"""


def test_cache_json():
    entries = parse_nhrp_cache(CACHE_JSON)
    assert [(e.type, e.protocol, e.nbma) for e in entries] == [
        ("local", "10.255.0.1", "192.0.2.1"), ("dynamic", "10.255.0.12", "192.0.2.12")]
    assert entries[1].timeout and entries[1].auth and not entries[1].used


def test_nhs_and_shortcut_json():
    nhs = parse_nhs('{"attr":{"entriesCount":1},"table":[{"interface":"gre1","fqdn":"192.0.2.1",'
                    '"nbma":"192.0.2.1","protocol":"10.255.0.1"}]}')
    assert nhs[0].nbma == "192.0.2.1" and nhs[0].protocol == "10.255.0.1"
    sc = parse_shortcuts('{"attr":{"entriesCount":1},"table":[{"type":"dynamic","prefix":"10.102.0.0/24",'
                         '"via":"10.255.0.12","identity":""}]}')
    assert sc[0].prefix == "10.102.0.0/24" and sc[0].via == "10.255.0.12"


def test_xfrm_states_with_counters():
    a, b = parse_xfrm_states(XFRM)
    assert (a.src, a.dst, a.proto, a.spi, a.reqid, a.mode) == ("192.0.2.11", "192.0.2.1", "esp", 0x10B01, 2817, "transport")
    assert (a.bytes, a.packets) == (284, 3)
    assert a.algorithms == {"aead": "rfc4106(gcm(aes))"}
    assert b.packets == 3 and b.stats["failed"] == 2
    assert parse_xfrm_states("") == []


def test_link_stats():
    links = parse_link_stats('[{"ifindex":6,"ifname":"gre1","mtu":1472,"operstate":"UNKNOWN","flags":["UP"],'
                             '"address":"0.0.0.0","stats64":{"rx":{"bytes":10,"packets":1},'
                             '"tx":{"bytes":20,"packets":2}}}]')
    assert links["gre1"]["rx"]["packets"] == 1 and links["gre1"]["tx"]["bytes"] == 20


def test_several_json_documents_from_one_vtysh_call():
    assert json_documents('{"a":1}\n[\n]\n {"b":[2]}\n') == [{"a": 1}, [], {"b": [2]}]
    assert json_documents("  \n") == []
