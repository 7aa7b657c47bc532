"""profile_kit (tunables, address plan, lock-step lists), the loader, the bench CLI shape."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dmvpn.engines import profile_kit as K
from dmvpn.engines import stl_shim as S
from dmvpn.engines.fieldengine import Program
from dmvpn.engines.loader import load_module, load_profile, stl_shim_installed

from .conftest import PROFILES, REPO

# --------------------------------------------------------------------------------------------------
# tunables

SPEC = {"spokes": K.Tunable(100, K.integer, "n"), "rate": K.Tunable(1.5, float, "r"), "on": K.Tunable(False, K.boolean, "b"),
        "pw": K.Tunable(None, K.optional_text, "p")}  # fmt: skip


def test_tunables_from_kwargs_and_from_trex3_argv() -> None:
    assert vars(K.parse_tunables(SPEC, None, {})) == {"spokes": 100, "rate": 1.5, "on": False, "pw": None}
    assert vars(K.parse_tunables(SPEC, None, {"spokes": "0x10", "on": "yes", "port_id": 1})) == {"spokes": 16, "rate": 1.5, "on": True, "pw": None}
    t = K.parse_tunables(SPEC, ["--spokes", "7", "--on", "True", "--pw", "None", "--rate=2"], {})
    assert vars(t) == {"spokes": 7, "rate": 2.0, "on": True, "pw": None}
    with pytest.raises(ValueError, match="unknown tunable"):
        K.parse_tunables(SPEC, None, {"spoke": 3})
    with pytest.raises(SystemExit):
        K.parse_tunables(SPEC, ["--help"], {})


# --------------------------------------------------------------------------------------------------
# address plan


def test_address_plan_defaults() -> None:
    plan = K.AddressPlan()
    assert plan.capacity == 253
    assert [plan.spoke_nbma(i) for i in (0, 126, 127, 380, 381)] == ["192.0.2.128", "192.0.2.254", "198.51.100.1", "198.51.100.254", "203.0.113.1"]
    assert [plan.spoke_tunnel(i) for i in (0, 252)] == ["10.255.0.2", "10.255.0.254"]
    assert str(plan.spoke_lan(0)) == "10.100.0.0/24" and plan.lan_host(154, 1) == "10.254.0.1"
    plan.require(253)
    with pytest.raises(ValueError, match="tunnel_net"):
        plan.require(254)
    with pytest.raises(ValueError, match="nbma_pools"):
        K.AddressPlan(nbma_pools="192.0.2.128/30").require(3)
    with pytest.raises(ValueError, match="LAN"):
        plan.spoke_lan(155)


def test_hub_tunnel_outside_the_first_host_is_skipped() -> None:
    plan = K.AddressPlan(tunnel_net="10.255.0.0/29", hub_tunnel="10.255.0.3")
    assert [plan.spoke_tunnel(i) for i in range(plan.capacity)] == ["10.255.0.1", "10.255.0.2", "10.255.0.4", "10.255.0.5", "10.255.0.6"]


# --------------------------------------------------------------------------------------------------
# lock-step value lists


def test_lockstep_program_reproduces_every_frame() -> None:
    frames = [bytes([1, 2, i % 256, 4, 5, 6, 7, 8, 9, 10, 11, 12, i * 3 % 256, 7]) + i.to_bytes(4, "big") for i in range(300)]
    base, fields = K.lockstep_fields(frames)
    vm = S.STLScVmRaw(K.lockstep_vm(fields, S.STLVmFlowVar, S.STLVmWrFlowVar)).compile()
    assert Program(vm, len(base)).packets(base, 600) == frames + frames
    assert [(f.offset, f.size) for f in fields] == [(2, 1), (12, 1), (16, 2)]


def test_lockstep_limits_are_trexs() -> None:
    frames = [bytes(600), b"\1" * 600]
    with pytest.raises(ValueError, match="64 per stream|512"):
        _, fields = K.lockstep_fields(frames)
        K.lockstep_vm(fields, S.STLVmFlowVar, S.STLVmWrFlowVar)
    assert [len(c) for c in K.lockstep_chunks([b"x"] * 10, limit=4)] == [4, 4, 2]


# --------------------------------------------------------------------------------------------------
# loader


def test_loader_restores_sys_modules_and_leaves_scapy_alone() -> None:
    before = {k: sys.modules.get(k) for k in ("trex_stl_lib", "trex_stl_lib.api", "trex")}
    with stl_shim_installed():
        import trex_stl_lib.api as api

        assert api.DMVPN_STL_SHIM
    assert {k: sys.modules.get(k) for k in before} == before
    module = load_module(PROFILES / "hairpin.py")
    assert module.STLStream is S.STLStream  # `from trex_stl_lib.api import *` resolved to the shim
    assert load_profile(PROFILES / "hairpin.py", direction=1, pairs=1).to_json()[0]["packet"]


def test_profiles_import_no_scapy() -> None:
    code = (
        "import sys; from dmvpn.engines.loader import load_profile; import glob\n"
        "for p in sorted(glob.glob('profiles/*.py')): load_profile(p)\n"
        "bad = [m for m in sys.modules if m == 'scapy' or m.startswith('scapy.')]\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------------------
# `dmvpn bench build --json`: output shape only (no timing assertions)


def test_bench_build_json_shape() -> None:
    import dmvpn.cli

    if "dmvpn.perf" in dmvpn.cli.COMMAND_MODULES:
        cmd = [sys.executable, "-m", "dmvpn.cli", "bench", "build", "--json", "--iterations", "50"]
    else:  # not registered in the project CLI yet: drive our register() the way dmvpn.cli does
        script = (
            "import argparse, sys; from dmvpn import perf as cli\n"
            "p = argparse.ArgumentParser(prog='dmvpn'); s = p.add_subparsers(dest='command', required=True)\n"
            "cli.register(s); a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
        )
        cmd = [sys.executable, "-c", script, "bench", "build", "--json", "--iterations", "50"]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["metric"] for r in records] == ["template_us", "scapy_us", "template_vs_scapy_ratio"]
    for r in records:
        assert r["bench"] == "build" and isinstance(r["value"], (int, float)) and r["value"] > 0 and r["unit"] in ("us", "x")
        assert r["iterations"] == 50
