"""The lab: FRR nhrpd hubs and spokes in user-mode Linux guests on one namespace's bridge.

::

    with Lab(Topology(spokes=2)) as lab:
        lab.exec("hub", "ip -br addr")
        lab.nhrp_cache("hub")

``up()`` records the lab (see :mod:`dmvpn.lab.state`), creates the namespace, mounts a tmpfs for
the guests' RAM files, boots every guest at once and waits until vtysh answers in each.
``down()`` powers the guests off, kills what is left by the pids the lab recorded, deletes the
namespace, unmounts and removes temporary files. It runs on success, on exceptions, on Ctrl-C and
on SIGTERM/SIGHUP (turned into :class:`LabTerminated` while a lab is up), and at interpreter exit
for labs nobody stopped. A lab left behind by a SIGKILLed owner is removed by the next ``up()``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import netns
from .errors import BootError, LabError, LabTerminated, PrerequisiteError
from .guest import Guest, Result
from .mgmt import ManagementMixin
from .implementations import get as get_implementation
from .render import guest_config
from .roots import INIT_STUB, ensure_root
from .state import PREFIX, GuestRecord, LabRecord, list_records, proc_start_time, reap_stale, state_lock, teardown
from .topology import TESTER_EXTRA_NETS, TESTER_NBMA, TESTER_POOL, Node, Topology, topology_from_dict, topology_to_dict

GUEST_INIT = Path(__file__).with_name("guest_init.py")
#: host paths a guest on its own root can hold a run dir under (its init mounts tmpfs there)
GUEST_TMPFS = ("/tmp", "/var/tmp")
UML_MODULES = Path("/usr/lib/uml/modules")
Progress = Callable[[str], None]


def check_prerequisites(topo: Topology | None = None) -> None:
    """Raise :class:`PrerequisiteError` with a one-line reason if the lab cannot run here."""
    if os.geteuid() != 0:
        raise PrerequisiteError("the lab needs root (network namespaces, taps, mounts): run as root")
    if not shutil.which("linux.uml"):
        raise PrerequisiteError("linux.uml not found: run bin/setup (Debian package user-mode-linux)")
    if not UML_MODULES.is_dir() or not any(UML_MODULES.iterdir()):
        raise PrerequisiteError(f"{UML_MODULES} is missing: run bin/setup (user-mode-linux)")
    needed = {"/usr/lib/frr/nhrpd": "frr", "/usr/lib/frr/zebra": "frr", "/usr/bin/vtysh": "frr",
              "/usr/sbin/modprobe": "kmod", "/usr/bin/python3": "python3"}
    if topo is None or topo.redirect:
        needed["/usr/sbin/iptables-legacy"] = "iptables"
    for path, pkg in needed.items():
        if not os.access(path, os.X_OK):
            raise PrerequisiteError(f"{path} not found: run bin/setup (Debian package {pkg})")
    if not shutil.which("ip"):
        raise PrerequisiteError("ip not found: run bin/setup (Debian package iproute2)")
    if not os.path.exists("/dev/net/tun"):
        raise PrerequisiteError("/dev/net/tun is missing: the lab needs TUN/TAP")


# ---- signals ------------------------------------------------------------------------------------

_HANDLED = (signal.SIGTERM, signal.SIGHUP)
_sig_lock = threading.RLock()
_sig_users = 0
_sig_prev: dict[int, object] = {}
_live_labs: list[Lab] = []


def _raise_terminated(signum: int, frame) -> None:
    if _sig_users == 0 and _sig_prev:
        # Every lab is down but the handlers could not be restored then (down() ran off the
        # main thread): restore them now and hand the signal on.
        _restore_handlers()
        signal.raise_signal(signum)
        return
    raise LabTerminated(signum)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _install_handlers() -> None:
    global _sig_users
    with _sig_lock:
        if not _sig_prev and _in_main_thread():
            for sig in _HANDLED:
                _sig_prev[sig] = signal.getsignal(sig)
                signal.signal(sig, _raise_terminated)
        _sig_users += 1


def _restore_handlers() -> None:
    for sig, handler in _sig_prev.items():
        signal.signal(sig, handler)
    _sig_prev.clear()


def _release_handlers() -> None:
    global _sig_users
    with _sig_lock:
        _sig_users = max(0, _sig_users - 1)
        if _sig_users == 0 and _sig_prev and _in_main_thread():
            _restore_handlers()


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP while cleaning up; deliver the first one afterwards."""
    if not _in_main_thread():
        yield
        return
    pending: list[int] = []
    sigs = (signal.SIGINT,) + _HANDLED
    prev = {s: signal.getsignal(s) for s in sigs}
    for s in sigs:
        signal.signal(s, lambda n, f: pending.append(n))
    try:
        yield
    finally:
        for s, h in prev.items():
            signal.signal(s, h)
        if pending:
            signal.raise_signal(pending[0])


@atexit.register
def _down_forgotten_labs() -> None:
    for lab in list(_live_labs):
        with contextlib.suppress(Exception):
            lab.down()


# ---- the lab ------------------------------------------------------------------------------------

@dataclass
class Health:
    """What :meth:`Lab.health` found on one node."""

    node: str
    guest_alive: bool
    daemons: dict[str, int | None] = field(default_factory=dict)  #: daemon -> pid, None if not running
    vtysh_ok: bool = False
    vtysh_seconds: float | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.guest_alive and self.vtysh_ok and all(self.daemons.values())


class Lab(ManagementMixin):
    """A running (or about to run) lab. See the module docstring."""

    def __init__(self, topology: Topology | None = None, run_dir: str | Path | None = None, *,
                 keep_run_dir: bool | None = None, boot_timeout: float = 90.0,
                 progress: Progress | None = None) -> None:
        self.topology = topology or Topology()
        self._given_run_dir = Path(run_dir).absolute() if run_dir else None
        if self._given_run_dir and any(c in str(self._given_run_dir) for c in " \t\n,="):
            # It goes on the guest kernel's command line and into hostfs mount options.
            raise LabError(f"run dir {str(self._given_run_dir)!r} must not contain blanks, ',' or '='")
        #: keep logs and configs after down(); default: keep a given run dir, remove our own
        self.keep_run_dir = (run_dir is not None or bool(os.environ.get("DMVPN_LAB_KEEP"))
                             if keep_run_dir is None else keep_run_dir)
        self.implementation = get_implementation(self.topology.implementation)
        if self.implementation.own_root and self._given_run_dir and not any(
                self._given_run_dir.is_relative_to(d) for d in GUEST_TMPFS):
            # the guest mounts the run dir at its host path, which must be creatable in its root
            raise LabError(f"{self.implementation.name} guests need a run dir below "
                           f"{' or '.join(GUEST_TMPFS)}, not {self._given_run_dir}")
        self.root: Path = Path("/")
        self.boot_timeout = boot_timeout
        self.progress = progress or (lambda msg: None)
        self.id: str | None = None
        self.ns: str | None = None
        self.run_dir: Path | None = None
        self.record: LabRecord | None = None
        self.guests: dict[str, Guest] = {}
        self.nodes: dict[str, Node] = {n.name: n for n in self.topology.nodes()}
        self._procs: dict[str, subprocess.Popen] = {}
        self._state = "new"  # new -> up -> down | detached
        self.boot_seconds: float | None = None
        self.down_seconds: float | None = None

    # -- attach to a lab another process started (dmvpn lab up) --------------------------------

    @classmethod
    def attach(cls, lab_id: str | None = None) -> Lab:
        """A handle on a recorded, running lab: ``lab_id``, else the only one, else the only
        detached one (started by ``dmvpn lab up``)."""
        recs = [r for r in list_records() if not r.stale and (lab_id is None or r.id == lab_id)]
        if not recs:
            raise LabError(f"no lab {lab_id} is running" if lab_id else
                           "no lab is running: start one with `dmvpn lab up`")
        if len(recs) > 1 and sum(r.detached for r in recs) == 1:
            recs = [r for r in recs if r.detached]  # the one `dmvpn lab up` started
        if len(recs) > 1:
            raise LabError(f"several labs are running ({', '.join(r.id for r in recs)}): choose one with --lab")
        return cls._from_record(recs[0])

    @classmethod
    def _from_record(cls, rec: LabRecord) -> Lab:
        lab = cls(topology_from_dict(rec.topology) if rec.topology else None, run_dir=rec.run_dir)
        lab.id, lab.ns, lab.run_dir, lab.record = rec.id, rec.ns, Path(rec.run_dir), rec
        lab.guests = {name: Guest(name, lab.run_dir / name, g.pid, g.start_time)
                      for name, g in rec.guests.items()}
        lab._state = "attached"
        return lab

    # -- lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> Lab:
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()

    def up(self) -> Lab:
        if self._state != "new":
            raise LabError(f"this Lab object is {self._state}; make a new one")
        check_prerequisites(self.topology)
        # an implementation with its own root: built the first time (about a minute), then reused
        self.root = ensure_root(self.implementation, self.progress)
        t0 = time.monotonic()
        reap_stale(self.progress)
        _install_handlers()
        self._state = "up"
        _live_labs.append(self)
        try:
            self._create()
            self._boot()
            self._wait_ready(t0)
        except BaseException:
            self.down()
            raise
        self.boot_seconds = time.monotonic() - t0
        self.record.ready = True
        self.record.save()
        return self

    def _create(self) -> None:
        self.id = secrets.token_hex(3)
        self.ns = PREFIX + self.id
        if self._given_run_dir:
            self.run_dir = self._given_run_dir.resolve()
            self.run_dir.mkdir(parents=True, exist_ok=True)
        else:
            self.run_dir = Path("/tmp") / (PREFIX + self.id)
            self.run_dir.mkdir(mode=0o755)
        os.chmod(self.run_dir, 0o755)  # the guests' FRR (user frr) writes logs below it
        mem = self.run_dir / "mem"
        # Record first: whatever happens from here on, the record names it.
        self.record = LabRecord(
            id=self.id, ns=self.ns, run_dir=str(self.run_dir), remove_run_dir=not self.keep_run_dir,
            owner_pid=os.getpid(), owner_start=proc_start_time(os.getpid()),
            mounts=[str(mem)], topology=topology_to_dict(self.topology))
        self.record.save()
        self.progress(f"lab {self.id}: run dir {self.run_dir}, namespace {self.ns}")
        mem.mkdir(exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0700", "dmvpn-lab-mem", str(mem)],
                       check=True, capture_output=True)
        (self.run_dir / "uml").mkdir(exist_ok=True)
        init = self.run_dir / "init.py"
        shutil.copyfile(GUEST_INIT, init)
        init.chmod(0o755)
        frr = pwd.getpwnam("frr")
        for node in self.nodes.values():
            d = self.run_dir / node.name
            (d / "spool").mkdir(parents=True, exist_ok=True)
            for stale in ("status.json", "console.log", "nhrpd.log", "zebra.log"):
                with contextlib.suppress(FileNotFoundError):
                    (d / stale).unlink()
            os.chown(d, frr.pw_uid, frr.pw_gid)
            d.chmod(0o775)
            cfg = guest_config(self.topology, node, str(d))
            for path, text in cfg.pop("files").items():
                Path(path).write_text(text)
            (d / "guest.json").write_text(json.dumps(cfg, indent=1))
        with state_lock():  # a teardown elsewhere may unmount an empty /run/netns
            netns.create_lab_namespace(
                self.ns, [n.tap for n in self.nodes.values()], [f"{TESTER_NBMA}/24"],
                [str(TESTER_POOL)] + [str(n) for n in TESTER_EXTRA_NETS])

    def _guest_argv(self, node: Node) -> list[str]:
        rd = self.run_dir
        # A small sh stays the guest's parent and reaps it the moment it exits, also after the
        # process that booted the lab has gone (dmvpn lab up); otherwise an exited guest would
        # linger as a zombie until init collects it (1-2 s here). The sh carries the same
        # arguments, so the lab's marker (uml_dir=...) finds it too.
        return [
            "/bin/sh", "-c", '"$@"; exit $?', "dmvpn-lab-guest",
            "ip", "netns", "exec", self.ns, "linux.uml",
            f"mem={self.topology.mem_mb}M", f"umid={node.name}", f"uml_dir={rd}/uml",
            "root=/dev/root", "rootfstype=hostfs", f"rootflags={self.root}", "ro", self._init_arg(),
            f"DMVPN_NODE_DIR={rd}/{node.name}", f"DMVPN_RUN_DIR={rd}",
            "con0=null,fd:1", "con=null", "ssl=null",
            f"vec0:transport=tap,ifname={node.tap},mac={node.mac}",
        ]

    def _init_arg(self) -> str:
        if self.implementation.own_root:
            return f"init=/{INIT_STUB}"  # inside the root: mounts the run dir, runs its init.py
        return f"init={self.run_dir}/init.py"

    def _boot(self) -> None:
        env = dict(os.environ, TMPDIR=str(self.run_dir / "mem"))
        for node in self.nodes.values():
            with open(self.run_dir / node.name / "console.log", "wb") as console:
                proc = subprocess.Popen(self._guest_argv(node), stdin=subprocess.DEVNULL, stdout=console,
                                        stderr=subprocess.STDOUT, env=env, start_new_session=True)
            self._procs[node.name] = proc
            self.record.guests[node.name] = GuestRecord(proc.pid, proc.pid, proc_start_time(proc.pid))
            self.guests[node.name] = Guest(node.name, self.run_dir / node.name, proc.pid,
                                           self.record.guests[node.name].start_time)
        self.record.save()
        self.progress(f"booting {len(self._procs)} guest(s): {', '.join(self._procs)}")

    def _wait_ready(self, t0: float) -> None:
        waiting = set(self.guests)
        deadline = time.monotonic() + self.boot_timeout
        while waiting:
            for name in sorted(waiting):
                g = self.guests[name]
                st = g.status()
                if st.get("state") == "ready":
                    waiting.discard(name)
                    self.progress(f"{name}: ready ({time.monotonic() - t0:.1f} s)")
                elif st.get("state") == "failed":
                    raise BootError(f"{name} failed to start: {st.get('error')}\n{g.console_tail()}")
                elif self._procs[name].poll() is not None:
                    raise BootError(f"{name}: linux.uml exited with {self._procs[name].returncode} "
                                    f"while booting; console:\n{g.console_tail()}")
            if waiting and time.monotonic() > deadline:
                raise BootError(f"not ready after {self.boot_timeout:g} s: {', '.join(sorted(waiting))}")
            time.sleep(0.05)

    def _reap_children(self) -> None:
        for p in self._procs.values():
            p.poll()

    def down(self) -> float:
        """Stop everything this lab started; idempotent. Returns the seconds it took."""
        if self._state in ("new", "down"):
            return 0.0
        t0 = time.monotonic()
        owned = self._state == "up"
        try:
            with _signals_deferred():
                if self.record is not None:
                    with state_lock():
                        notes = teardown(self.record, reap_children=self._reap_children)
                    for note in notes:
                        self.progress(f"lab {self.id}: {note}")
                for p in self._procs.values():
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        p.wait(timeout=1.0)
        finally:
            self._state = "down"
            if self in _live_labs:
                _live_labs.remove(self)
            if owned:
                _release_handlers()
        self.down_seconds = time.monotonic() - t0
        return self.down_seconds

    def detach(self) -> None:
        """Leave the lab running after this process exits (``dmvpn lab up``)."""
        if self._state != "up":
            raise LabError("only a lab that is up can be detached")
        self.record.detached = True
        self.record.save()
        self._state = "detached"
        if self in _live_labs:
            _live_labs.remove(self)
        _release_handlers()

    # -- access ----------------------------------------------------------------------------------

    def node(self, name: str) -> Node:
        if name not in self.nodes:
            raise LabError(f"no node {name!r} (nodes: {', '.join(self.nodes)})")
        return self.nodes[name]

    def guest(self, name: str) -> Guest:
        if name not in self.guests:
            raise LabError(f"no running guest {name!r} (guests: {', '.join(self.guests) or 'none'})")
        return self.guests[name]

    def exec(self, node: str, command: str | list[str], timeout: float = 30.0,
             input: str | None = None) -> Result:
        """Run ``command`` on ``node`` (a list is exec'd, a string goes through /bin/sh -c)."""
        return self.guest(node).exec(command, timeout=timeout, input=input)

    def logs(self, node: str, daemon: str = "nhrpd") -> str:
        """The daemon's log file (kept in the run dir; readable after the guest is gone)."""
        self.node(node)
        path = self.run_dir / node / f"{daemon}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def console(self, node: str) -> str:
        path = self.run_dir / self.node(node).name / "console.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def health(self, node: str, timeout: float = 5.0) -> Health:
        """Is the guest alive, do zebra and nhrpd run, does nhrpd answer vtysh within ``timeout``?"""
        g = self.guest(node)
        h = Health(node, guest_alive=g.alive())
        if not h.guest_alive:
            h.error = "guest is not running"
            return h
        script = ('for d in zebra nhrpd; do p=; read p < /run/frr/$d.pid 2>/dev/null; '
                  'if [ -n "$p" ] && [ -e /proc/$p/exe ]; then echo "$d $p"; else echo "$d -"; fi; done')
        try:
            out = g.exec(script, timeout=timeout).stdout
            for line in out.splitlines():
                name, pid = line.split()
                h.daemons[name] = int(pid) if pid.isdigit() else None
            t = time.monotonic()
            res = g.exec(["vtysh", "-d", "nhrpd", "-c", "show ip nhrp cache json"], timeout=timeout)
            h.vtysh_seconds = time.monotonic() - t
            h.vtysh_ok = res.rc == 0 and res.stdout.lstrip().startswith("{")
            if not h.vtysh_ok:
                h.error = f"vtysh: rc {res.rc}: {(res.stderr or res.stdout).strip()[:200]}"
        except LabError as exc:
            h.error = str(exc)
        down = [d for d, pid in h.daemons.items() if pid is None]
        if down and not h.error:
            h.error = f"not running: {', '.join(down)}"
        return h

    # -- the tester's side -----------------------------------------------------------------------

    def add_tester_address(self, address: str) -> None:
        """Add an address ("192.0.2.101/24") on the lab bridge. Addresses in 192.0.2.128/25,
        198.51.100.0/24 and 203.0.113.0/24 need no adding: they are local routes already."""
        netns.add_address(self.ns, address)

    def socket(self, family: int, type: int, proto: int = 0):
        """A socket opened inside the lab namespace (it stays there)."""
        return netns.socket_in_netns(self.ns, family, type, proto)

    def in_ns(self):
        """Context manager: the current thread inside the lab namespace."""
        return netns.in_netns(self.ns)

    def run_in_ns(self, fn, *args, **kwargs):
        """Call ``fn`` in a helper thread inside the lab namespace; return its result."""
        return netns.run_in_netns(self.ns, fn, *args, **kwargs)
