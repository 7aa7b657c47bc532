"""What a lab leaves on the machine, recorded so that it can always be removed.

Every lab writes ``/run/dmvpn-lab/<id>.json`` *before* it creates anything (namespace, mount,
guests) and updates it as it goes. A lab is removed by :func:`teardown`, which only acts on what
the record names and on processes it can prove belong to the lab (their command line carries the
lab's own ``uml_dir=<run dir>/uml``): it never looks processes up by name.

A lab whose owner process died without cleaning up (SIGKILL, a crash) is *stale*;
:func:`reap_stale` removes stale labs and is called by every ``Lab.up()``. A lab started by
``dmvpn lab up`` is *detached*: it outlives its owner on purpose and is removed by
``dmvpn lab down``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import netns
from .mounts import is_mounted, umount

STATE_DIR = Path(os.environ.get("DMVPN_LAB_STATE_DIR", "/run/dmvpn-lab"))
PREFIX = "dmvpn-lab-"  #: namespaces and run dirs the project creates carry this prefix


# ---- processes ----------------------------------------------------------------------------------

def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            data = fh.read()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ")".
    return data[data.rindex(")") + 2:].split()


def proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (tells a reused pid apart)."""
    f = _stat_fields(pid)
    return int(f[19]) if f else None


def pid_alive(pid: int, start_time: int | None = None) -> bool:
    """True if ``pid`` runs (zombies count as dead) and, if given, started at ``start_time``."""
    f = _stat_fields(pid)
    if f is None or f[0] in ("Z", "X"):
        return False
    return start_time is None or int(f[19]) == start_time


def _pgrp(pid: int) -> int | None:
    f = _stat_fields(pid)
    return int(f[2]) if f else None


def lab_processes(run_dir: str) -> list[int]:
    """Live processes that belong to the lab in ``run_dir``: found by the ``uml_dir=`` argument
    each of its guests was started with (forked UML helpers share it)."""
    marker = f"uml_dir={run_dir.rstrip('/')}/uml".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                args = fh.read().split(b"\0")
        except OSError:
            continue
        if marker in args and pid_alive(pid):
            found.append(pid)
    return found


# ---- records ------------------------------------------------------------------------------------

@dataclass
class GuestRecord:
    pid: int
    pgid: int
    start_time: int | None


@dataclass
class LabRecord:
    id: str
    ns: str
    run_dir: str
    remove_run_dir: bool
    owner_pid: int
    owner_start: int | None
    detached: bool = False
    mounts: list[str] = field(default_factory=list)
    guests: dict[str, GuestRecord] = field(default_factory=dict)
    topology: dict = field(default_factory=dict)  #: ``topology_to_dict`` of what was booted
    created: float = field(default_factory=time.time)
    ready: bool = False

    @property
    def path(self) -> Path:
        return STATE_DIR / f"{self.id}.json"

    def save(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        os.replace(tmp, self.path)

    def delete(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    @classmethod
    def load(cls, path: Path) -> LabRecord:
        data = json.loads(path.read_text())
        data["guests"] = {k: GuestRecord(**v) for k, v in data.get("guests", {}).items()}
        return cls(**data)

    def owner_alive(self) -> bool:
        return pid_alive(self.owner_pid, self.owner_start)

    @property
    def stale(self) -> bool:
        """Owner gone and not detached on purpose: nobody will clean this lab up but us."""
        return not self.detached and not self.owner_alive()


def list_records() -> list[LabRecord]:
    records = []
    if not STATE_DIR.is_dir():
        return records
    for path in sorted(STATE_DIR.glob("*.json")):
        try:
            records.append(LabRecord.load(path))
        except (OSError, ValueError, TypeError):
            continue  # half-written by a killed process: its .tmp never replaced it
    return sorted(records, key=lambda r: r.created)


@contextlib.contextmanager
def state_lock() -> Iterator[None]:
    """Serialize reaping and teardown between processes."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(STATE_DIR / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---- teardown -----------------------------------------------------------------------------------

def request_poweroff(rec: LabRecord) -> None:
    """Ask every guest's agent to power off (``echo o > /proc/sysrq-trigger``)."""
    for name in rec.guests:
        spool = Path(rec.run_dir) / name / "spool"
        if spool.is_dir():
            tmp = spool / "poweroff.tmp"
            with contextlib.suppress(OSError):
                tmp.write_text('{"op": "poweroff"}')
                os.replace(tmp, spool / "poweroff.job")


def _guest_ready(rec: LabRecord, name: str) -> bool:
    try:
        status = json.loads((Path(rec.run_dir) / name / "status.json").read_text())
    except (OSError, ValueError):
        return False
    return status.get("state") == "ready"


def _wait_gone(rec: LabRecord, deadline: float, reap: Callable[[], None] | None) -> list[int]:
    while True:
        if reap:
            reap()
        left = lab_processes(rec.run_dir)
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.02)


def teardown(rec: LabRecord, *, graceful: bool = True, grace: float = 1.5,
             reap_children: Callable[[], None] | None = None) -> list[str]:
    """Remove everything ``rec`` names. Returns notes on what needed force (empty if none).

    ``reap_children`` is called while waiting so that the owner can collect its own children.
    """
    notes: list[str] = []
    left = lab_processes(rec.run_dir)
    # Power off through the spool only when every guest's agent serves it (status "ready");
    # a guest still booting is killed at once: all its state is in tmpfs or the run dir.
    if graceful and left and all(_guest_ready(rec, n) for n in rec.guests):
        request_poweroff(rec)
        left = _wait_gone(rec, time.monotonic() + grace, reap_children)
    if left:
        notes.append(f"killed {len(left)} guest process(es) that did not power off")
        ours = set(left)
        for g in rec.guests.values():
            # The group is ours if any live member carries the lab's marker.
            if any(_pgrp(p) == g.pgid for p in ours):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(g.pgid, signal.SIGKILL)
        for pid in ours:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        left = _wait_gone(rec, time.monotonic() + 3.0, reap_children)
        if left:
            notes.append(f"processes {left} survived SIGKILL")
    if rec.ns.startswith(PREFIX):
        netns.delete_namespace(rec.ns)
    for m in rec.mounts:
        if not umount(m):
            notes.append(f"could not unmount {m}")
    run_dir = Path(rec.run_dir)
    if rec.remove_run_dir and run_dir.name.startswith(PREFIX) and not any(map(is_mounted, rec.mounts)):
        shutil.rmtree(run_dir, ignore_errors=True)
    elif run_dir.is_dir():
        # Keep logs and configs; drop what only a running guest needs.
        for sub in ["mem", "uml"] + [f"{n}/spool" for n in rec.guests]:
            p = run_dir / sub
            if p.is_dir() and not is_mounted(str(p)):
                shutil.rmtree(p, ignore_errors=True)
    rec.delete()
    return notes


def reap_stale(progress: Callable[[str], None] | None = None) -> list[str]:
    """Remove every recorded lab whose owner died without cleaning up. Returns their ids."""
    reaped = []
    with state_lock():
        for rec in list_records():
            if rec.stale:
                if progress:
                    progress(f"removing stale lab {rec.id} (owner pid {rec.owner_pid} is gone)")
                teardown(rec, graceful=False)
                reaped.append(rec.id)
    return reaped
