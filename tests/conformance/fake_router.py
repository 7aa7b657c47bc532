"""An SSH server in the test process (asyncssh's server side) that answers as a router would.

The server splits each exec request's command line as a POSIX shell does (`shlex.split`) and hands
the argument vector to a handler: what the DUT adapter sends is what a remote shell would see, so
unquoted arguments fail here as they would on a router. Authentication is by password, and the
host key is a fresh one the test writes into a known_hosts file (host key checking stays on).
"""

from __future__ import annotations

import asyncio
import json
import shlex
import threading
import time
from collections.abc import Callable
from pathlib import Path

import asyncssh

PASSWORD = "s3cret-test"


class FakeSshRouter:
    """`handler(argv, command) -> (stdout, exit status)`; every command line is kept in `commands`."""

    def __init__(self, handler: Callable[[list[str], str], tuple[str, int]], tmp: Path) -> None:
        self.handler = handler
        self.commands: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        key = asyncssh.generate_private_key("ssh-ed25519")
        self.server = asyncio.run_coroutine_threadsafe(self._start(key), self.loop).result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        self.known_hosts = tmp / "known_hosts"
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {key.export_public_key().decode().strip()}\n")

    async def _start(self, key):
        router = self

        class Server(asyncssh.SSHServer):
            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                return username == "admin" and password == PASSWORD

        async def process(proc: asyncssh.SSHServerProcess) -> None:
            command = proc.command or ""
            router.commands.append(command)
            try:
                argv = shlex.split(command)
                out, status = router.handler(argv, command)
            except Exception as exc:  # a broken handler is a failing command, visible in the test
                out, status = f"fake router: {type(exc).__name__}: {exc}\n", 1
            proc.stdout.write(out)
            proc.exit(status)

        return await asyncssh.create_server(Server, "127.0.0.1", 0, server_host_keys=[key], process_factory=process)

    async def _stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()

    def close(self) -> None:
        # asyncio servers are not thread-safe: close it on its own loop's thread
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class FakeFrrSpoke:
    """vtysh and shell answers of an FRR spoke, backed by the in-process fake spoke `dut`
    (dmvpn.dut.inprocess.InProcessSpokeDut): its cache as FRR's JSON, its registration and its
    data on demand."""

    NHS_LINES = ("no ip nhrp nhs 10.255.0.100 nbma 192.0.2.100", "ip nhrp nhs 10.255.0.100 nbma 192.0.2.100")

    def __init__(self, dut) -> None:
        self.dut = dut
        self.pids = {"nhrpd": 4242, "zebra": 4241}

    def __call__(self, argv: list[str], command: str) -> tuple[str, int]:
        if command.startswith("for d in nhrpd zebra"):
            alive = not self.dut.spoke.crashed
            return "".join(f"{d} {self.pids[d] if alive else '-'}\n" for d in ("nhrpd", "zebra")), 0
        if argv[:1] == ["vtysh"]:
            return self.vtysh(argv[1:])
        if argv[:1] == ["ping"]:
            count, dst = int(argv[argv.index("-c") + 1]), argv[-1]
            self.dut.send_data(dst, count)
            return f"PING {dst}\n", 1  # no echo replies come back
        return f"sh: 1: {argv[0]}: not found\n", 127

    def vtysh(self, args: list[str]) -> tuple[str, int]:
        if len(args) % 2 or any(flag != "-c" for flag in args[::2]):
            return f"vtysh: unknown arguments {args!r}\n", 1
        commands = args[1::2]
        if commands == ["show ip nhrp cache json"]:
            rows = [{"interface": "gre1", "type": r["type"], "protocol": r["proto"], "nbma": r["nbma"],
                     "claimed_nbma": r["nbma"], "used": False, "timeout": True, "auth": False, "identity": "-"}
                    for r in self.dut.cache()]
            return json.dumps({"attr": {"entriesCount": len(rows)}, "table": rows}), 0
        if commands == ["show ip nhrp shortcut json"]:
            rows = [{"type": s["type"], "prefix": s["prefix"], "via": s["via"], "identity": "-"} for s in self.dut.shortcuts()]
            return json.dumps({"attr": {"entriesCount": len(rows)}, "table": rows}), 0
        if commands == ["clear ip nhrp cache", "clear ip nhrp shortcut"]:
            self.dut.reset_state()
            # as FRR's clear does: pending resolutions and negative entries go too (one DUT serves
            # the whole run here, as a router does, so nothing of a case may leak into the next)
            spoke = self.dut.spoke
            spoke.outstanding.clear()
            spoke.negative.clear()
            spoke.negative_until.clear()
            return "", 0
        if commands == ["configure terminal", "interface gre1", *self.NHS_LINES]:
            time.sleep(0.01)
            self.dut.trigger_registration()
            return "", 0
        return f"% Unknown command: {commands!r}\n", 1
