"""SSH management of external gear, through asyncssh.

Why asyncssh (2.14+, 2.24.1 here; about 4 MB installed, pure Python on top of `cryptography`,
which the project already needs for ESP), and not netmiko or scrapli:

- one library for both ends: its server side is what the tests run as a fake router (commands
  through a real SSH session, quoting included) without a device or a second package;
- what the testbed needs is exec requests (one command, its output, its exit status: what
  `vtysh -c '...' json` and IOS `show ...` give over SSH without a terminal, so no paging and no
  prompt scraping) and, for IOS configuration lines, one shell session fed line by line;
  netmiko (paramiko plus prompt and paging handling per platform) and scrapli (several transport
  plug-ins) carry a lot for interactive CLIs that this does not use;
- it is maintained (releases through 2026), typed, and has no C extension of its own.

A command is sent as one string: the remote side (a POSIX shell for FRR/VyOS) splits it, so
argument vectors are quoted here with :func:`shlex.join` (``vtysh -c 'show ip nhrp cache json'``).
The client runs its own event loop in a daemon thread; every call is synchronous with a timeout.
"""

from __future__ import annotations

import asyncio
import shlex
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class ManagementError(RuntimeError):
    """The management plane could not be reached, or a command failed."""


def quote(argv: Sequence[str]) -> str:
    """One command line a POSIX shell splits back into exactly `argv`."""
    return shlex.join([str(a) for a in argv])


@dataclass(frozen=True)
class SshTarget:
    host: str
    port: int = 22
    username: str = ""
    password: str | None = None  #: from the environment variable the testbed file names
    key_files: tuple[str, ...] = ()  #: empty: the user's default keys and agent
    known_hosts: str | None = ""  #: "" the user's ~/.ssh/known_hosts; a path; None: do not verify
    connect_timeout: float = 10.0
    command_timeout: float = 30.0

    def describe(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"ssh {user}{self.host}:{self.port}"


class SshClient:
    """One SSH connection to the DUT, opened on first use and reopened after a failure."""

    def __init__(self, target: SshTarget) -> None:
        self.target = target
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._conn = None
        self._lock = threading.Lock()

    # -- the event loop thread ------------------------------------------------------------------

    def _run(self, coro, timeout: float):
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name="dmvpn-ssh", daemon=True)
            self._thread.start()
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise ManagementError(f"{self.target.describe()}: no answer within {timeout:g} s") from None

    async def _connect(self):
        import asyncssh

        t = self.target
        options: dict = {"port": t.port, "connect_timeout": t.connect_timeout}
        if t.username:
            options["username"] = t.username
        if t.password is not None:
            options["password"] = t.password
        if t.key_files:
            options["client_keys"] = list(t.key_files)
        if t.known_hosts is None:
            options["known_hosts"] = None
        elif t.known_hosts:
            options["known_hosts"] = str(Path(t.known_hosts).expanduser())
        return await asyncssh.connect(t.host, **options)

    async def _exec(self, command: str, stdin: str | None):
        import asyncssh

        if self._conn is None:
            self._conn = await self._connect()
        try:
            args = () if command is None else (command,)  # None: a shell session fed `stdin`
            return await self._conn.run(*args, input=stdin, check=False, timeout=self.target.command_timeout)
        except (asyncssh.Error, OSError):
            self._conn.close()
            self._conn = None
            raise

    def run(self, command: str | None, stdin: str | None = None, check: bool = True) -> str:
        """Run one command line (already quoted) and return its stdout; raises ManagementError when
        the DUT cannot be reached or, with `check`, when the command exits non-zero."""
        with self._lock:
            try:
                result = self._run(self._exec(command, stdin), self.target.connect_timeout + self.target.command_timeout + 5)
            except ManagementError:
                raise
            except Exception as exc:  # asyncssh.Error, OSError, TimeoutError from the library
                raise ManagementError(f"{self.target.describe()}: {type(exc).__name__}: {str(exc)[:200]}") from None
        stdout = result.stdout if isinstance(result.stdout, str) else (result.stdout or b"").decode(errors="replace")
        if check and result.exit_status not in (0, None):
            stderr = result.stderr if isinstance(result.stderr, str) else (result.stderr or b"").decode(errors="replace")
            raise ManagementError(f"{self.target.describe()}: {command!r} exited {result.exit_status}: {(stderr or stdout).strip()[:200]}")
        return stdout

    def run_argv(self, argv: Sequence[str], check: bool = True) -> str:
        return self.run(quote(argv), check=check)

    def close(self) -> None:
        if self._loop is None:
            return
        conn, self._conn = self._conn, None

        async def shut():
            if conn is not None:
                conn.close()
                await conn.wait_closed()

        try:
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(5)
        except Exception:
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop.close()
        self._loop = self._thread = None
