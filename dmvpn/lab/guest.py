"""The command channel to one guest: a spool directory shared over hostfs.

The host writes ``spool/<id>.job`` atomically (write ``.tmp``, rename); the guest's agent
(``guest_init.py``) picks it up within its poll interval (50 ms), runs it in a thread, and writes
``spool/<id>.res`` atomically: ``{"rc", "stdout", "stderr", "timed_out", "elapsed"}``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import CommandTimeout, GuestDied, LabError
from .state import pid_alive

_seq = itertools.count(1)


@dataclass(frozen=True)
class Result:
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def check(self, what: str = "command") -> Result:
        if self.rc != 0:
            raise LabError(f"{what} failed (rc {self.rc}): {(self.stderr or self.stdout).strip()[-800:]}")
        return self


class Guest:
    """Host-side handle of one running guest."""

    def __init__(self, name: str, node_dir: Path, pid: int | None = None,
                 start_time: int | None = None) -> None:
        self.name = name
        self.node_dir = Path(node_dir)
        self.spool = self.node_dir / "spool"
        self.pid = pid
        self.start_time = start_time

    def alive(self) -> bool:
        return self.pid is not None and pid_alive(self.pid, self.start_time)

    def status(self) -> dict:
        """The agent's ``status.json`` ({"state": "ready"|"failed", ...}) or {} before it exists."""
        try:
            return json.loads((self.node_dir / "status.json").read_text())
        except (OSError, ValueError):
            return {}

    def console_tail(self, lines: int = 15) -> str:
        try:
            text = (self.node_dir / "console.log").read_text(errors="replace")
        except OSError:
            return ""
        keep = [ln for ln in text.splitlines() if not ln.lstrip().startswith("[<")]
        return "\n".join(keep[-lines:])

    def submit(self, job: dict) -> str:
        job_id = f"{os.getpid()}-{next(_seq)}-{time.monotonic_ns() % 10**9}"
        tmp = self.spool / f"{job_id}.tmp"
        tmp.write_text(json.dumps(job))
        os.replace(tmp, self.spool / f"{job_id}.job")
        return job_id

    def exec(self, command: str | list[str], timeout: float = 30.0, input: str | None = None) -> Result:
        """Run ``command`` in the guest: a list is exec'd as is, a string through ``/bin/sh -c``.

        Raises :class:`CommandTimeout` when it does not finish within ``timeout`` seconds (the
        guest kills it), :class:`GuestDied` when the guest is gone.
        """
        if not self.spool.is_dir():
            raise LabError(f"{self.name}: no command spool at {self.spool} (is the lab up?)")
        job: dict = {"timeout": timeout, "input": input}
        if isinstance(command, str):
            job["sh"] = command
        else:
            job["argv"] = [str(a) for a in command]
        job_id = self.submit(job)
        res_path = self.spool / f"{job_id}.res"
        # The guest enforces `timeout`; allow extra time for pick-up and writing the result.
        deadline = time.monotonic() + timeout + 3.0
        delay = 0.002
        while True:
            try:
                data = json.loads(res_path.read_text())
                break
            except FileNotFoundError:
                pass
            if time.monotonic() > deadline:
                with contextlib.suppress(FileNotFoundError):
                    (self.spool / f"{job_id}.job").unlink()
                if not self.alive():
                    raise GuestDied(f"{self.name}: guest is gone while running {_show(command)}")
                raise CommandTimeout(self.name, command, timeout, "no answer from the guest's agent")
            if delay >= 0.02 and self.pid is not None and not self.alive():
                raise GuestDied(f"{self.name}: guest died while running {_show(command)}; "
                                f"console:\n{self.console_tail()}")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.02)
        with contextlib.suppress(FileNotFoundError):
            res_path.unlink()
        if data.get("timed_out"):
            raise CommandTimeout(self.name, command, timeout)
        return Result(int(data["rc"]), data.get("stdout", ""), data.get("stderr", ""))


def _show(command: str | list[str]) -> str:
    return command if isinstance(command, str) else shlex.join(command)
