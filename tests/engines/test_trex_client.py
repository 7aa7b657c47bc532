"""Every profile loads and serialises with the REAL TRex client, and the shim says exactly the same.

The real client (PyPI lbr-trex-client) runs in its own process (dmvpn.engines.trex); the shim in
this one (dmvpn.engines.loader). Their `STLProfile.to_json()` must be equal: same streams, modes,
field-engine programs in the same order, and the same base packet bytes.
"""

from __future__ import annotations

import base64

import pytest

from dmvpn.engines.loader import load_profile
from dmvpn.engines.trex import TrexEngine, TrexUnavailable

from .conftest import CASE_IDS, PROFILE_CASES, PROFILES


@pytest.mark.parametrize(("cid", "profile", "tunables"), PROFILE_CASES, ids=CASE_IDS)
def test_real_client_loads_and_serialises(real_client_json, cid, profile, tunables) -> None:
    streams = real_client_json[cid]["streams"]
    assert streams, "STLProfile.to_json() gave no streams"
    for s in streams:
        assert s["packet"]["binary"] and "instructions" in s["vm"] and s["mode"]["rate"]["value"] > 0


@pytest.mark.parametrize(("cid", "profile", "tunables"), PROFILE_CASES, ids=CASE_IDS)
def test_shim_json_equals_real_client_json(real_client_json, cid, profile, tunables) -> None:
    real = real_client_json[cid]["streams"]
    shim = load_profile(PROFILES / profile, **tunables).to_json()
    assert len(shim) == len(real)
    for k, (a, b) in enumerate(zip(shim, real)):
        assert base64.b64decode(a["packet"]["binary"]) == base64.b64decode(b["packet"]["binary"]), f"stream {k} base packet"
        assert a["vm"] == b["vm"], f"stream {k} field engine"
        assert a == b, f"stream {k}"


def test_real_client_child_never_loads_the_project_scapy(real_client_json) -> None:
    env = next(iter(real_client_json.values()))["env"]
    assert env["project_scapy_layer_loaded"] is False
    assert "lbr_trex_client" in env["scapy_file"] and "scapy-2.4.3" in env["scapy_file"]


def test_tunables_reach_the_profile_as_trex3_argv(real_client_json) -> None:
    """TRex 3 hands tunables over as ["--spokes", "20", ...]; the profile parsed them (20 spokes x 2 rounds)."""
    streams = real_client_json["registration-auth-nat-2rounds"]["streams"]
    assert streams[0]["mode"]["total_pkts"] == 40


def test_ten_thousand_spokes_is_one_stream_in_both(real_client_json) -> None:
    wide = {"spokes": 10000, "nbma_pools": "100.64.0.0/16", "tunnel_net": "10.255.0.0/16"}
    real = TrexEngine().load(PROFILES / "registration_storm.py", **wide)
    shim = load_profile(PROFILES / "registration_storm.py", **wide).to_json()
    assert real == shim
    assert len(real) == 1 and real[0]["mode"]["total_pkts"] == 10000
    lists = [i["value_list"] for i in real[0]["vm"]["instructions"] if i["type"] == "flow_var"]
    assert lists and all(len(v) == 10000 for v in lists)
    assert sum(i["size"] for i in real[0]["vm"]["instructions"] if i["type"] == "flow_var") <= 64


def test_storms_beyond_a_value_list_become_a_chain() -> None:
    wide = {"spokes": 40000, "rounds": 2, "nbma_pools": "100.64.0.0/16", "tunnel_net": "10.255.0.0/16", "rate": 0}
    streams = load_profile(PROFILES / "registration_storm.py", **wide).to_json()
    assert [s["mode"]["total_pkts"] for s in streams] == [65535, 14465]
    assert streams[0]["next"] == "reg1" and streams[0]["self_start"] and not streams[1]["self_start"]
    assert "next" not in streams[1]


def test_connect_without_a_server_says_what_to_do() -> None:
    with pytest.raises(TrexUnavailable, match="no TRex server"):
        TrexEngine().connect()
    with pytest.raises(TrexUnavailable):
        TrexEngine().start(PROFILES / "hairpin.py", duration=1)
    with pytest.raises(TrexUnavailable):
        TrexEngine().stop()


def test_profile_errors_come_back_from_the_child(real_client_json) -> None:
    from dmvpn.engines.trex import TrexError

    with pytest.raises(TrexError, match="spokes"):
        TrexEngine().load(PROFILES / "registration_storm.py", spokes=100000)


@pytest.mark.parametrize(("cid", "profile", "tunables"), PROFILE_CASES, ids=CASE_IDS)
def test_local_engine_runs_the_real_clients_json(real_client_json, cid, profile, tunables) -> None:
    """The local engine interprets the client's JSON: same packets whether the shim or TRex loaded the profile."""
    from dmvpn.engines.local import LocalEngine

    engine = LocalEngine(src_mac=None, seed=7)  # fixed seed: random variables draw the same values
    real = real_client_json[cid]["streams"]
    for k in range(min(3, len(real))):
        ours = engine.frames(PROFILES / profile, tunables, stream=k, count=20)
        theirs = engine.frames(real, stream=k, count=20)
        assert ours == theirs, f"stream {k}"
