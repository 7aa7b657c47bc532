"""Whatever happens to the process that started a lab, nothing of the lab survives it.

`dmvpn lab up` runs as ``python -m dmvpn.cli lab up``
in a subprocess, interrupted while its guests boot: SIGINT and SIGTERM make it clean up itself;
after SIGKILL the guests are orphans and the next reaping removes them. A detached lab (up, exec,
status, down) goes through the whole CLI.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from dmvpn.lab.netns import list_namespaces
from dmvpn.lab.state import STATE_DIR, LabRecord, lab_processes, pid_alive, reap_stale, teardown

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]


def _default_sigint() -> None:
    # A test run started in the background by a non-interactive shell inherits SIGINT ignored, and
    # Python then keeps it ignored: the child must get the default disposition a terminal's ^C meets.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def lab_cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dmvpn.cli", "lab", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_default_sigint, **kw)


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dmvpn.cli", "lab", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=timeout)


@dataclass
class Booting:
    proc: subprocess.Popen
    lab_id: str
    run_dir: str
    ns: str
    guests: list[tuple[int, int | None]]  # (pid, start time)


def start_booting(spokes: int = 2) -> Booting:
    """Start `up` and return once its guests are launched (they are then still booting)."""
    proc = lab_cli("up", "--spokes", str(spokes))
    lab_id = None
    deadline = time.monotonic() + 30
    buf = ""
    while time.monotonic() < deadline:
        if not select.select([proc.stderr], [], [], 0.5)[0]:
            continue
        line = proc.stderr.readline()
        buf += line
        if not line:
            break
        if m := re.search(r"lab ([0-9a-f]{6}): run dir", line):
            lab_id = m[1]
        if "booting" in line:
            break
    else:
        proc.kill()
        pytest.fail(f"`up` did not start booting in time:\n{buf}")
    assert lab_id, buf
    rec = LabRecord.load(STATE_DIR / f"{lab_id}.json")
    assert rec.guests, "guests launched but not recorded"
    return Booting(proc, lab_id, rec.run_dir, rec.ns,
                   [(g.pid, g.start_time) for g in rec.guests.values()])


def assert_nothing_left(b: Booting) -> None:
    assert not lab_processes(b.run_dir), "guest processes of the lab are still running"
    assert not any(pid_alive(pid, start) for pid, start in b.guests)
    assert b.ns not in list_namespaces()
    with open("/proc/self/mountinfo") as fh:
        assert b.run_dir not in fh.read(), "a mount below the run dir is left"
    assert not (STATE_DIR / f"{b.lab_id}.json").exists()
    assert not Path(b.run_dir).exists()


@contextlib.contextmanager
def safety_net(b: Booting):
    """If a test fails half-way, still remove what it started."""
    try:
        yield
    finally:
        if b.proc.poll() is None:
            b.proc.kill()
            b.proc.wait()
        path = STATE_DIR / f"{b.lab_id}.json"
        if path.exists():
            teardown(LabRecord.load(path), graceful=False)


@pytest.mark.parametrize("sig, rc", [(signal.SIGINT, 130), (signal.SIGTERM, 128 + signal.SIGTERM)])
def test_interrupting_up_while_booting_removes_everything(lab_available, sig, rc):
    b = start_booting()
    with safety_net(b):
        time.sleep(0.5)
        assert any(pid_alive(p, s) for p, s in b.guests), "guests should be booting"
        b.proc.send_signal(sig)
        out, err = b.proc.communicate(timeout=30)
        assert b.proc.returncode == rc, err
        assert "is up" not in out
        assert_nothing_left(b)


def test_a_sigkilled_owner_leaves_a_lab_that_the_next_reap_removes(lab_available):
    b = start_booting(spokes=1)
    with safety_net(b):
        time.sleep(0.5)
        b.proc.kill()
        b.proc.wait()
        assert lab_processes(b.run_dir), "the orphaned guests should still run"
        assert b.lab_id in reap_stale()
        assert_nothing_left(b)


def test_detached_lab_up_exec_status_down(lab_available):
    up = run_cli("up", "--spokes", "1")
    assert up.returncode == 0, up.stderr
    lab_id = re.search(r"lab ([0-9a-f]{6}) (\(\S+\) )?is up", up.stdout)[1]
    rec = LabRecord.load(STATE_DIR / f"{lab_id}.json")
    b = Booting(subprocess.Popen(["true"]), lab_id, rec.run_dir, rec.ns,
                [(g.pid, g.start_time) for g in rec.guests.values()])
    with safety_net(b):
        assert rec.detached and all(pid_alive(p, s) for p, s in b.guests)  # outlived `up`
        assert "booting" in up.stderr and "hub: ready" in up.stderr  # progress lines

        res = run_cli("exec", "--lab", lab_id, "hub", "--", "vtysh", "-c", "show ip nhrp cache")
        assert res.returncode == 0 and "10.255.0.1" in res.stdout, res.stderr
        res = run_cli("exec", "--lab", lab_id, "spoke1", "--", "echo hi; exit 5")
        assert (res.returncode, res.stdout) == (5, "hi\n")
        res = run_cli("exec", "--lab", lab_id, "nosuch", "--", "true")
        assert res.returncode == 1 and "no running guest 'nosuch'" in res.stderr

        again = run_cli("up")
        assert again.returncode == 1 and "already running" in again.stderr

        st = run_cli("status", "--lab", lab_id, "--json")
        assert st.returncode == 0, st.stderr
        (info,) = json.loads(st.stdout)
        assert {n["node"]: n["health"] for n in info["nodes"]} == {"hub": "ok", "spoke1": "ok"}

        down = run_cli("down", "--lab", lab_id)
        assert down.returncode == 0 and f"lab {lab_id} removed" in down.stdout, down.stderr
        assert_nothing_left(b)
        res = run_cli("exec", "--lab", lab_id, "hub", "--", "true")
        assert res.returncode == 1 and "no lab" in res.stderr


def test_no_lab_and_bad_arguments_give_one_line_errors(lab_available):
    res = run_cli("exec", "--lab", "000000", "hub", "--", "true")
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "no lab 000000 is running" in res.stderr
    res = run_cli("up", "--spokes", "500")
    assert res.returncode == 2 and res.stderr.startswith("dmvpn lab up: spokes must be")


def test_not_root_is_a_clear_error():
    if os.geteuid() != 0:
        pytest.skip("already not root")
    res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          sys.executable, "-m", "dmvpn.cli", "lab", "up"], cwd=ROOT, text=True,
                         capture_output=True, timeout=60)
    assert res.returncode == 1
    assert "needs root" in res.stderr and res.stderr.count("\n") == 1
