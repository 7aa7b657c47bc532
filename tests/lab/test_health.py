"""Health on a small lab of its own (one hub): a hung nhrpd, a crashed nhrpd, logs kept after down."""

from __future__ import annotations

import os

import pytest

from dmvpn.lab import Lab, Topology
from dmvpn.lab.mounts import is_mounted
from dmvpn.lab.state import STATE_DIR, lab_processes
from dmvpn.lab.netns import list_namespaces

pytestmark = pytest.mark.lab


def test_health_notices_hung_and_crashed_nhrpd(lab_available, tmp_path):
    run_dir = tmp_path / "lab"
    with Lab(Topology(hubs=1, spokes=0), run_dir=run_dir) as lab:
        assert lab.health("hub").ok

        # Stopped (hung) nhrpd: the process is there, vtysh gets no answer in time.
        lab.exec("hub", "kill -STOP $(cat /run/frr/nhrpd.pid)").check()
        h = lab.health("hub", timeout=1.5)
        assert not h.ok and h.daemons["nhrpd"] and not h.vtysh_ok
        assert "timed out" in h.error and "hub" in h.error
        lab.exec("hub", "kill -CONT $(cat /run/frr/nhrpd.pid)").check()
        assert lab.health("hub").ok

        # Crashed nhrpd: the pid is gone.
        lab.exec("hub", "kill -KILL $(cat /run/frr/nhrpd.pid)").check()
        h = lab.health("hub")
        assert not h.ok and h.daemons == {"zebra": h.daemons["zebra"], "nhrpd": None}
        assert h.daemons["zebra"] and not h.vtysh_ok
        ns, lab_id = lab.ns, lab.id

    # Down: logs and configs stay in the given run dir, everything else is gone.
    assert "nhrpd" in (run_dir / "hub" / "nhrpd.conf").read_text()
    assert "NHRP" in lab.logs("hub")
    assert "Power down" in lab.console("hub") or "sysrq" in lab.console("hub")
    assert not (run_dir / "mem").exists() and not (run_dir / "hub" / "spool").exists()
    assert not is_mounted(str(run_dir / "mem"))
    assert not lab_processes(str(run_dir))
    assert ns not in list_namespaces()
    assert not (STATE_DIR / f"{lab_id}.json").exists()
    assert lab.down() == 0.0  # idempotent


def test_an_exception_inside_the_lab_still_cleans_up(lab_available):
    lab = Lab(Topology(hubs=1, spokes=0))
    with pytest.raises(ZeroDivisionError):
        with lab:
            run_dir = str(lab.run_dir)
            1 / 0
    assert not lab_processes(run_dir)
    assert lab.ns not in list_namespaces()
    assert not os.path.exists(run_dir)
