"""The `trex` engine: the real TRex stateless client (PyPI lbr-trex-client) in a separate process.

The client vendors scapy 2.4.3 and swaps it in at import, which would break the project's scapy
2.8, so it never runs in this process: `TrexEngine` starts `python -m dmvpn.engines.trex_child`,
sends it a JSON request and reads a JSON answer. Loading a profile there is exactly what a TRex
console does (`STLProfile.load_py`, tunables as TRex 3's argv list); the answer carries
`STLProfile.to_json()`, the JSON the client would send to a TRex server, which the local engine can
also run (`LocalEngine.run(engine.load(...))`).

Starting traffic needs a TRex server (`server=` address; sync port 4501, async 4500). None exists in
this project's machines: `connect()` / `start()` / `stop()` without a server raise `TrexUnavailable`
with what to do; with one, the child runs connect/reset/add_streams/start/wait/stop and returns the
stats (only loading and serialising are tested here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from dmvpn.transport.interlock import Interlock

_REPO_ROOT = Path(__file__).resolve().parents[2]


class TrexError(RuntimeError):
    """The child failed to import the client or to load/serialise a profile."""


class TrexUnavailable(TrexError):
    """No TRex server to talk to (none configured, or it did not answer)."""


class TrexEngine:
    """Profiles through the real TRex client, each request in a fresh child process."""

    def __init__(
        self,
        server: str | None = None,
        *,
        sync_port: int = 4501,
        async_port: int = 4500,
        python: str | None = None,
        timeout: float = 120.0,
        interlock: Interlock | None = None,
    ) -> None:
        self.server = server
        self.sync_port = sync_port
        self.async_port = async_port
        self.python = python or sys.executable
        self.timeout = timeout
        self.interlock = interlock

    # -- the child ---------------------------------------------------------------------------

    def _ask(self, request: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        env.setdefault("PYTHONWARNINGS", "ignore")
        proc = subprocess.run(
            [self.python, "-m", "dmvpn.engines.trex_child"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=timeout or self.timeout,
            env=env,
            cwd=str(_REPO_ROOT),
        )
        if proc.returncode != 0 or not proc.stdout.strip():
            raise TrexError(f"TRex client process failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
        answer = json.loads(proc.stdout)
        if not answer.get("ok"):
            cls = TrexUnavailable if answer.get("kind") == "server" else TrexError
            raise cls(answer.get("error", "unknown error") + ("\n" + answer["traceback"] if "traceback" in answer else ""))
        return answer

    # -- loading -----------------------------------------------------------------------------

    def load_many(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Load several profiles in one child: {"results": [...], "env": {...}} (see trex_child)."""
        request = {
            "op": "load",
            "profiles": [
                {
                    "path": str(Path(i["path"]).resolve()),
                    "direction": i.get("direction", 0),
                    "port_id": i.get("port_id", 0),
                    "tunables": i.get("tunables", {}),
                }
                for i in items
            ],
        }
        return self._ask(request)

    def load(self, path: str | Path, /, direction: int = 0, port_id: int = 0, **tunables: Any) -> list[dict[str, Any]]:
        """`STLProfile.load_py(path, ...).to_json()` from the real client: the streams as TRex gets them."""
        answer = self.load_many([{"path": path, "direction": direction, "port_id": port_id, "tunables": tunables}])
        return answer["results"][0]["streams"]

    # -- a server ----------------------------------------------------------------------------

    def connect(self) -> None:
        """Check that a TRex server is configured; talking to it happens in the child (start())."""
        if not self.server:
            raise TrexUnavailable(
                "no TRex server: give TrexEngine(server='ADDRESS') of a running TRex (`t-rex-64 -i`, "
                "ports 4501/4500); without one use the local engine, or TrexEngine.load() to get the JSON"
            )

    def start(
        self,
        path: str | Path,
        /,
        *,
        ports: list[int] | None = None,
        mult: str = "1",
        duration: float = -1,
        direction: int = 0,
        **tunables: Any,
    ) -> dict[str, Any]:
        """Load the profile on the server's ports, start, wait until done (bounded), stop; the stats."""
        self.connect()
        if self.interlock is not None:
            self._check_destinations(self.load(path, direction=direction, **tunables))
        if duration is None or duration <= 0:
            raise ValueError("give a positive duration: every run must be bounded")
        request = {
            "op": "run",
            "server": self.server,
            "sync_port": self.sync_port,
            "async_port": self.async_port,
            "ports": ports or [0],
            "mult": mult,
            "duration": duration,
            "timeout": duration + 30,
            "profile": {"path": str(Path(path).resolve()), "direction": direction, "tunables": tunables},
        }
        return self._ask(request, timeout=duration + 60)["stats"]

    def stop(self, ports: list[int] | None = None) -> None:
        """Stop traffic on the server's ports (after an interrupted start())."""
        self.connect()
        self._ask({"op": "stop", "server": self.server, "sync_port": self.sync_port,
                   "async_port": self.async_port, "ports": ports or [0]})  # fmt: skip

    def _check_destinations(self, streams: list[dict[str, Any]]) -> None:
        from dmvpn.engines.local import frame_ipv4_destination, stream_base_packet

        for s in streams:
            dst = frame_ipv4_destination(stream_base_packet(s))
            if dst is None:
                raise TrexError("refusing a stream that is not IPv4 over Ethernet")
            assert self.interlock is not None
            self.interlock.check(dst)
