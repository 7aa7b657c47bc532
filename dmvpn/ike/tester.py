"""A tester-side charon: IKEv2 by strongSwan in the lab's namespace, ESP by us.

The host kernel has no ESP (``ip xfrm state add ... proto esp`` -> "Requested type not found"), so
charon runs with the kernel-libipsec plugin (its user-space ESP): that gives it somewhere to
install the negotiated SAs. kernel-libipsec forces ESP in UDP 4500 and tunnel mode. With
``install_routes = no`` nothing is routed into its TUN device, so charon itself sends no ESP:
:class:`TesterCharon` logs the CHILD_SA keys (level 4, Debian has no save-keys plugin) and
:func:`dmvpn.ike.keys.child_sas` turns them into :class:`dmvpn.wire.esp.EspSA` pairs for
:class:`dmvpn.ike.link.IkeEspLink`.

::

    with TesterCharon(lab.ns, conf_dir, [IkeConnection("hub", "192.0.2.250", "192.0.2.1", psk,
                                                       mode="tunnel")]) as charon:
        charon.initiate("hub")
        sa = charon.child_sas()[-1]

charon's pid file is fixed at /var/run/charon.pid: it runs in its own mount namespace (the one
``ip netns exec`` makes) with ``<conf_dir>/run`` bind-mounted over /run, so its pid file and vici
socket are ``<conf_dir>/run/charon.pid`` and ``<conf_dir>/run/charon.vici``, and a host charon is
not disturbed. Stopping is by pid (SIGTERM, then SIGKILL on the process group).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .config import CHARON, SWANCTL, IkeConnection, strongswan_conf, swanctl_conf
from .keys import ChildSaKeys, child_sas


class IkeError(RuntimeError):
    """charon or swanctl failed; the message carries their output."""


def strongswan_available() -> str | None:
    """None if charon and swanctl are installed, else the reason (for a test skip)."""
    if not os.access(CHARON, os.X_OK):
        return f"{CHARON} not found (Debian package strongswan-charon)"
    if not shutil.which(SWANCTL) and not os.access(SWANCTL, os.X_OK):
        return f"{SWANCTL} not found (Debian package strongswan-swanctl)"
    plugin = Path("/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so")
    if not plugin.exists():
        return f"{plugin} not found (Debian package libcharon-extra-plugins)"
    return None


class TesterCharon:
    """charon in network namespace ``ns`` with a private config dir; see the module docstring."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, ns: str, conf_dir: str | Path, connections: list[IkeConnection], *,
                 kernel: str = "libipsec", keys_in_log: bool = True, log_level: int = 1,
                 start_timeout: float = 15.0) -> None:
        self.ns = ns
        self.dir = Path(conf_dir).absolute()
        self.connections = list(connections)
        self.kernel = kernel
        self.keys_in_log = keys_in_log
        self.log_level = log_level
        self.start_timeout = start_timeout
        self.run_dir = self.dir / "run"
        self.log_path = self.dir / "charon.log"
        self.conf_path = self.dir / "strongswan.conf"
        self.swanctl_path = self.dir / "swanctl.conf"
        self.vici = self.run_dir / "charon.vici"
        self.proc: subprocess.Popen | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> TesterCharon:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def _env(self) -> dict:
        return dict(os.environ, STRONGSWAN_CONF=str(self.conf_path))

    def start(self) -> TesterCharon:
        if self.proc is not None:
            raise IkeError("already started")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for stale in (self.run_dir / "charon.pid", self.run_dir / "charon.vici", self.log_path):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()  # a fresh log: child_sas() must not see an earlier run's keys
        self.conf_path.write_text(strongswan_conf(
            log_path=str(self.log_path), vici_socket="/run/charon.vici", kernel=self.kernel,
            log_level=self.log_level, keys_in_log=self.keys_in_log, install_routes=False))
        self.swanctl_path.write_text(swanctl_conf(self.connections))
        argv = ["ip", "netns", "exec", self.ns, "/bin/sh", "-c",
                'mount --bind "$0" /run && exec "$@"', str(self.run_dir), CHARON]
        with open(self.dir / "charon.out", "ab") as out:
            self.proc = subprocess.Popen(argv, env=self._env(), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_vici()
            self.swanctl("--load-all", "--noprompt", "--file", str(self.swanctl_path))
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_vici(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise IkeError(f"charon exited with {self.proc.returncode}:\n{self.output()[-2000:]}")
            if self.vici.exists():
                res = self._swanctl(["--stats"])
                if res.returncode == 0:
                    return
                last = res.stderr or res.stdout
            time.sleep(0.05)
        raise IkeError(f"charon's vici socket {self.vici} did not answer in {self.start_timeout:g} s: "
                       f"{last.strip()}\n{self.output()[-2000:]}")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop charon by its pid (SIGTERM, then SIGKILL to its process group); idempotent."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
        for stale in ("charon.pid", "charon.vici"):
            with contextlib.suppress(FileNotFoundError):
                (self.run_dir / stale).unlink()

    # -- control -----------------------------------------------------------------------------------

    def _swanctl(self, args: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess:
        return subprocess.run([SWANCTL, *args, "--uri", f"unix://{self.vici}"], env=self._env(),
                              capture_output=True, text=True, timeout=timeout)

    def swanctl(self, *args: str, timeout: float = 30.0) -> str:
        """Run swanctl against this charon; its stdout, or IkeError with its output."""
        res = self._swanctl(list(args), timeout=timeout)
        if res.returncode != 0:
            raise IkeError(f"swanctl {' '.join(args)} failed (rc {res.returncode}): "
                           f"{(res.stdout + res.stderr).strip()[-1500:]}")
        return res.stdout

    def initiate(self, connection: str, timeout: int = 20) -> str:
        """Negotiate the IKE_SA and the CHILD_SA of ``connection`` (its name); swanctl's log."""
        conn = next((c for c in self.connections if c.name == connection), None)
        if conn is None:
            raise IkeError(f"no connection {connection!r}")
        return self.swanctl("--initiate", "--ike", conn.name, "--child", conn.child,
                            "--timeout", str(timeout), timeout=timeout + 5)

    def list_sas(self) -> str:
        return self.swanctl("--list-sas")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def output(self) -> str:
        path = self.dir / "charon.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def child_sas(self) -> list[ChildSaKeys]:
        """The CHILD_SAs charon established so far, with their keys (from its level-4 log)."""
        if not self.keys_in_log:
            raise IkeError("started without keys_in_log: the keys are not in the log")
        return child_sas(self.log())
