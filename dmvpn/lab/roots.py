"""Root file systems of implementations that are not the host's own FRR (e.g. frr-10.3).

Built once with ``mmdebstrap`` from the Debian mirror the machine's apt sources name (the suite
of the recipe, e.g. trixie), checked, and reused::

    /var/cache/dmvpn/roots/frr-10.3/            the root (read-only over hostfs in the guests)
    /var/cache/dmvpn/roots/frr-10.3/.dmvpn-root.json   written last: recipe digest, frr version, build time

``DMVPN_ROOTS_DIR`` moves the whole cache. A root whose stamp is missing or stale (a killed build,
another recipe), whose key files are gone or whose frr user does not match the host's is rebuilt
(into ``<name>.partial``, renamed when complete). What the guests also need from the host is
mounted at boot, not copied: the UML kernel modules (``/usr/lib/uml/modules``, so they always
match the host's ``linux.uml``) and the lab's run dir.

``python -m dmvpn.lab.roots ensure|check|build|path NAME`` (also ``dmvpn lab root ...``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pwd
import grp
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from . import implementations
from .errors import PrerequisiteError
from .implementations import root_path, roots_dir

STAMP = ".dmvpn-root.json"
#: inside a root: where the stub init mounts the lab's run dir, and the stub itself
HOST_MOUNT = "dmvpn-host"
INIT_STUB = "usr/local/sbin/dmvpn-init"
#: bump when the build steps change in a way the recipe does not show
BUILD_REVISION = 1

#: PID 1 of a guest on an own root: the run dir is not inside that root, so mount it first
#: (hostfs, host path from DMVPN_RUN_DIR) and hand over to the lab's guest_init.py there.
INIT_STUB_TEXT = '''#!/usr/bin/python3 -Su
# dmvpn lab: PID 1 of a guest whose root is not the host's /. Mounts the lab's run dir (a host
# path over hostfs) on /dmvpn-host and runs the lab's guest init from there.
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
run_dir = os.environ.get("DMVPN_RUN_DIR", "")
if libc.mount(b"none", b"/%s", b"hostfs", 0, run_dir.encode()) != 0:
    sys.stdout.write("[dmvpn-init] cannot mount the run dir %%s: %%s\\n" %% (run_dir, os.strerror(ctypes.get_errno())))
    sys.stdout.flush()
    open("/proc/sysrq-trigger", "w").write("o") if os.path.exists("/proc/sysrq-trigger") else None
    os._exit(1)
os.execv("/usr/bin/python3", ["/usr/bin/python3", "-Su", "/%s/init.py"])
''' % (HOST_MOUNT, HOST_MOUNT)

#: files a usable root must have (relative to it)
KEY_FILES = ("usr/lib/frr/zebra", "usr/lib/frr/nhrpd", "usr/lib/frr/mgmtd", "usr/bin/vtysh", "usr/bin/python3",
             "usr/sbin/modprobe", "usr/sbin/iptables-legacy", "usr/sbin/ip", INIT_STUB)


class RootError(PrerequisiteError):
    """A root file system cannot be used or built; the message says why and what to do."""




def _recipe_digest(impl) -> str:
    r = impl.recipe
    text = json.dumps({"suite": r.suite, "packages": sorted(r.packages), "frr": r.frr_version,
                       "stub": INIT_STUB_TEXT, "revision": BUILD_REVISION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _dpkg_version(root: Path, package: str) -> str | None:
    """The installed version of ``package`` from the root's dpkg status file."""
    try:
        text = (root / "var/lib/dpkg/status").read_text(errors="replace")
    except OSError:
        return None
    for block in text.split("\n\n"):
        fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", block, re.M))
        if fields.get("Package") == package and "installed" in fields.get("Status", "").split()[-1:]:
            return fields.get("Version")
    return None


def _ids(root: Path, db: str, name: str) -> int | None:
    with contextlib.suppress(OSError):
        for line in (root / "etc" / db).read_text().splitlines():
            parts = line.split(":")
            if parts[0] == name and len(parts) > 3:
                return int(parts[2])
    return None


def check_root(impl) -> str | None:
    """None when the implementation's root is complete and current, else what is wrong."""
    root = root_path(impl.name)
    if not root.is_dir():
        return f"{root} does not exist"
    try:
        stamp = json.loads((root / STAMP).read_text())
    except (OSError, ValueError):
        return f"{root} has no build stamp ({STAMP}): an unfinished build"
    if stamp.get("digest") != _recipe_digest(impl):
        return f"{root} was built from another recipe"
    missing = [f for f in KEY_FILES if not (root / f).exists()]
    if missing:
        return f"{root} lacks {', '.join(missing)}"
    if not (root / HOST_MOUNT).is_dir():
        return f"{root} lacks the /{HOST_MOUNT} mount point"
    version = _dpkg_version(root, "frr") or ""
    if not version.startswith(impl.recipe.frr_version):
        return f"{root} holds frr {version or 'nothing'}, not {impl.recipe.frr_version}"
    try:
        host = pwd.getpwnam("frr")
    except KeyError:
        return "the host has no frr user (run bin/setup: Debian package frr)"
    if (_ids(root, "passwd", "frr"), _ids(root, "group", "frr")) != (host.pw_uid, host.pw_gid):
        return f"{root}'s frr user is not the host's uid {host.pw_uid} gid {host.pw_gid}"
    return None


def debian_mirror() -> str:
    """The first Debian archive URI of the machine's apt sources (deb822 or one-line form)."""
    candidates: list[str] = []
    sources = Path("/etc/apt/sources.list.d")
    for path in sorted(sources.glob("*.sources")) if sources.is_dir() else []:
        with contextlib.suppress(OSError):
            for block in path.read_text().split("\n\n"):
                fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", block, re.M))
                if "deb" in fields.get("Types", "").split() and fields.get("Enabled", "yes") != "no":
                    candidates += fields.get("URIs", "").split()
    for path in [Path("/etc/apt/sources.list")] + (sorted(sources.glob("*.list")) if sources.is_dir() else []):
        with contextlib.suppress(OSError):
            for line in path.read_text().splitlines():
                m = re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", line.strip())
                if m:
                    candidates.append(m.group(1))
    for uri in candidates:
        if "security" not in uri and re.search(r"/debian/?$", uri):
            return uri.rstrip("/")
    raise RootError("no Debian archive in /etc/apt/sources.list(.d) to build a root from "
                    "(looked for a deb URI ending in /debian)")


def _lock():
    d = roots_dir()
    d.mkdir(parents=True, exist_ok=True)
    fh = open(d / ".lock", "w")
    fcntl.flock(fh, fcntl.LOCK_EX)
    return fh


def _mmdebstrap(progress: Callable[[str], None]) -> str:
    found = shutil.which("mmdebstrap")
    if found:
        return found
    progress("installing mmdebstrap (Debian package) to build the root")
    proc = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "mmdebstrap"],
                          env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), capture_output=True, text=True)
    found = shutil.which("mmdebstrap")
    if proc.returncode != 0 or not found:
        raise RootError(f"mmdebstrap is not installed and apt-get install mmdebstrap failed: "
                        f"{(proc.stderr or proc.stdout).strip()[-400:]}")
    return found


def _renumber(root: Path, db: str, name: str, new_id: int) -> int | None:
    """Give ``name`` the id ``new_id`` in the root's passwd/group; return the old id."""
    path = root / "etc" / db
    lines = path.read_text().splitlines()
    old = None
    for i, line in enumerate(lines):
        parts = line.split(":")
        if parts[0] != name and len(parts) > 3 and parts[2] == str(new_id):
            raise RootError(f"{root}/etc/{db}: id {new_id} (the host's {name}) belongs to {parts[0]} in the root")
    for i, line in enumerate(lines):
        parts = line.split(":")
        if parts[0] == name:
            old = int(parts[2])
            parts[2] = str(new_id)
            lines[i] = ":".join(parts)
    if db == "passwd":
        host_gid = pwd.getpwnam(name).pw_gid
        lines = [":".join(p[:3] + [str(host_gid)] + p[4:]) if p[0] == name else ":".join(p)
                 for p in (ln.split(":") for ln in lines)]
    path.write_text("\n".join(lines) + "\n")
    return old


def _match_host_ids(root: Path) -> None:
    """hostfs shows host ownership: the root's frr user and groups get the host's ids."""
    uid_map, gid_map = {}, {}
    for group in ("frr", "frrvty"):
        with contextlib.suppress(KeyError):
            host_gid = grp.getgrnam(group).gr_gid
            old = _ids(root, "group", group)
            if old is not None and old != host_gid:
                _renumber(root, "group", group, host_gid)
                gid_map[old] = host_gid
    host = pwd.getpwnam("frr")
    old_uid = _ids(root, "passwd", "frr")
    if old_uid is None:
        raise RootError(f"{root} has no frr user after the build")
    _renumber(root, "passwd", "frr", host.pw_uid)
    if old_uid != host.pw_uid:
        uid_map[old_uid] = host.pw_uid
    if uid_map or gid_map:
        for dirpath, dirnames, filenames in os.walk(root):
            for entry in dirnames + filenames:
                p = os.path.join(dirpath, entry)
                st = os.lstat(p)
                if st.st_uid in uid_map or st.st_gid in gid_map:
                    os.lchown(p, uid_map.get(st.st_uid, st.st_uid), gid_map.get(st.st_gid, st.st_gid))


def _seed_ids_hook() -> str:
    """An mmdebstrap hook run before frr is installed: the frr user and groups with the host's ids
    (frr's maintainer scripts then keep them, and no other package takes those ids)."""
    host = pwd.getpwnam("frr")
    lines = {"passwd": [f"frr:x:{host.pw_uid}:{host.pw_gid}:Frr routing suite,,,:/nonexistent:/usr/sbin/nologin"],
             "shadow": ["frr:*:20000:0:99999:7:::"], "group": [], "gshadow": []}
    for group in ("frr", "frrvty"):
        with contextlib.suppress(KeyError):
            gid = grp.getgrnam(group).gr_gid
            members = "frr" if group == "frrvty" else ""
            lines["group"].append(f"{group}:x:{gid}:{members}")
            lines["gshadow"].append(f"{group}:!::{members}")
    parts = []
    for db, entries in lines.items():
        for entry in entries:
            test = f'[ -e "$1/etc/{db}" ] && ' if db in ("shadow", "gshadow") else ""
            parts.append(f'{{ {test}grep -q "^{entry.split(":")[0]}:" "$1/etc/{db}" 2>/dev/null || '
                         f'echo \'{entry}\' >> "$1/etc/{db}"; }}' if not test else
                         f'{{ ! [ -e "$1/etc/{db}" ] || grep -q "^{entry.split(":")[0]}:" "$1/etc/{db}" || '
                         f'echo \'{entry}\' >> "$1/etc/{db}"; }}')
    return "; ".join(parts)


def _du(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
    return total


def build_root(impl, progress: Callable[[str], None] = print) -> dict:
    """Build the implementation's root from nothing (removing what is there); returns the stamp."""
    if os.geteuid() != 0:
        raise RootError(f"building the {impl.name} root needs root (mmdebstrap, chown): run as root")
    recipe = impl.recipe
    mmdebstrap = _mmdebstrap(progress)
    mirror = debian_mirror()
    final = root_path(impl.name)
    partial = final.with_name(final.name + ".partial")
    for old in (partial, final):
        if old.exists():
            shutil.rmtree(old)
    t0 = time.monotonic()
    log = final.with_name(final.name + ".build.log")
    progress(f"building the {impl.name} root in {final}: mmdebstrap {recipe.suite} from {mirror} "
             f"(about a minute; log {log})")
    argv = ["nice", "-n", "10", mmdebstrap, "--mode=root", "--variant=minbase",
            "--include=" + ",".join(recipe.packages), "--essential-hook=" + _seed_ids_hook(),
            recipe.suite, str(partial), f"deb {mirror} {recipe.suite} main"]
    with open(log, "w") as out:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-12:])
        with contextlib.suppress(OSError):
            shutil.rmtree(partial)
        raise RootError(f"mmdebstrap failed (rc {proc.returncode}) building {impl.name} from {mirror} "
                        f"{recipe.suite}; see {log}:\n{tail}")
    seconds_debootstrap = time.monotonic() - t0
    _match_host_ids(partial)
    (partial / HOST_MOUNT).mkdir(exist_ok=True)
    stub = partial / INIT_STUB
    stub.parent.mkdir(parents=True, exist_ok=True)
    stub.write_text(INIT_STUB_TEXT)
    stub.chmod(0o755)
    version = _dpkg_version(partial, "frr") or ""
    if not version.startswith(recipe.frr_version):
        raise RootError(f"the {recipe.suite} root holds frr {version or 'nothing'}, not {recipe.frr_version}: "
                        f"the implementation {impl.name} needs another suite or recipe")
    check = subprocess.run(["chroot", str(partial), "/usr/lib/frr/zebra", "--version"], capture_output=True, text=True)
    banner = (check.stdout or check.stderr).strip().splitlines()[:1]
    if check.returncode != 0 or not banner or recipe.frr_version not in banner[0]:
        raise RootError(f"zebra in the new root does not run or is not {recipe.frr_version}: {banner or check.stderr}")
    stamp = {"implementation": impl.name, "digest": _recipe_digest(impl), "suite": recipe.suite, "mirror": mirror,
             "packages": list(recipe.packages), "frr_package": version, "zebra_version": banner[0],
             "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "mmdebstrap_seconds": round(seconds_debootstrap, 1),
             "seconds": round(time.monotonic() - t0, 1), "bytes": _du(partial)}
    (partial / STAMP).write_text(json.dumps(stamp, indent=1) + "\n")
    os.rename(partial, final)
    progress(f"built the {impl.name} root in {stamp['seconds']:.0f} s ({stamp['bytes'] / 1e6:.0f} MB): "
             f"frr {version}")
    return stamp


def ensure_root(impl, progress: Callable[[str], None] = print, build: bool = True) -> Path:
    """The implementation's root, built first when it is missing, partial or stale."""
    if impl.recipe is None:
        return Path("/")
    with contextlib.closing(_lock()):
        problem = check_root(impl)
        if problem is None:
            return root_path(impl.name)
        if not build:
            raise RootError(f"the {impl.name} root is not usable: {problem}; build it with "
                            f"`dmvpn lab root build {impl.name}` or `bin/setup --root {impl.name}`")
        progress(f"{impl.name}: {problem}: rebuilding" if root_path(impl.name).exists() else f"{impl.name}: {problem}")
        build_root(impl, progress)
        problem = check_root(impl)
        if problem:
            raise RootError(f"the {impl.name} root was built but is not usable: {problem}")
        return root_path(impl.name)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="dmvpn lab root", description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=("ensure", "check", "build", "path"))
    ap.add_argument("implementation", nargs="?", default="frr-10.3")
    args = ap.parse_args(argv)
    try:
        impl = implementations.get(args.implementation)
    except ValueError as exc:
        print(f"dmvpn lab root: {exc}", file=sys.stderr)
        return 2
    say = lambda m: print(f"[dmvpn lab root] {m}", file=sys.stderr, flush=True)  # noqa: E731
    if args.action == "path":
        print(impl.root())
        return 0
    if impl.recipe is None:
        say(f"{impl.name} runs on the host's own / (nothing to build)")
        return 0
    try:
        if args.action == "check":
            problem = check_root(impl)
            print(problem or f"{root_path(impl.name)}: ok")
            return 1 if problem else 0
        if args.action == "build":
            with contextlib.closing(_lock()):
                build_root(impl, say)
        else:
            ensure_root(impl, say)
    except RootError as exc:
        print(f"dmvpn lab root: {exc}", file=sys.stderr)
        return 1
    print(root_path(impl.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
