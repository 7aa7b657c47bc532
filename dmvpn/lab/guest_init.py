#!/usr/bin/python3 -Su
"""PID 1 of a lab guest (user-mode Linux). Runs with the system Python, standard library only.

The host copies this file into the lab's run dir and boots the guest with ``init=<that copy>``
and ``DMVPN_NODE_DIR=<node dir>`` on the kernel command line (unknown ``key=value`` kernel
arguments reach init as environment variables). The node dir holds ``guest.json`` written by the
host (see ``dmvpn.lab.render``).

What it does, with as few forks as possible (a fork costs a lot under UML):
1. mounts /proc, /sys, tmpfs over the writable dirs, and the lab's run dir (host path) writable
   over hostfs at the same path;
2. points the kernel's module loader at /usr/lib/uml/modules through a modprobe wrapper;
3. runs the node's set-up (modprobe, one ``ip -batch``, iptables, sysctls) and starts FRR;
4. forks the agent: it waits until vtysh answers, writes ``status.json`` ("ready"), then serves
   the command spool (``spool/<id>.job`` -> ``spool/<id>.res``, both written atomically);
5. stays PID 1 and reaps orphans (daemons that exit, e.g. a killed nhrpd, disappear at once).

Any failure is written to ``status.json`` as ``{"state": "failed", "error": ...}`` so that the
host can report it at once instead of waiting for its boot timeout.
"""

import ctypes
import json
import os
import socket
import subprocess
import sys
import threading
import time

MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
T0 = time.monotonic()
KEEP = []  # objects PID 1 holds for the guest's lifetime (e.g. the ESP-in-UDP socket)


def log(msg):
    line = "[dmvpn-init %6.2f] %s\n" % (time.monotonic() - T0, msg)
    try:
        sys.stdout.write(line)
        sys.stdout.flush()
    except OSError:
        pass


def mount(source, target, fstype, flags=0, data=None):
    rc = _libc.mount(source.encode(), target.encode(), fstype.encode(), flags,
                     data.encode() if data is not None else None)
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, "mount %s on %s: %s" % (fstype, target, os.strerror(err)))


def write_json_atomic(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(obj, fh)
    os.rename(tmp, path)


def write_file(path, text):
    with open(path, "w") as fh:
        fh.write(text)


def run(argv, input_text=None):
    proc = subprocess.run(argv, input=input_text, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (rc %d): %s" % (" ".join(argv[:3]), proc.returncode,
                                                     (proc.stderr or proc.stdout).strip()[-500:]))
    return proc


def setup_filesystems(run_dir):
    # The read-only root is the host's / over hostfs: /proc and /sys show the host's until mounted.
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    if not os.path.exists("/dev/null") or os.stat("/dev/null").st_rdev != os.makedev(1, 3):
        mount("devtmpfs", "/dev", "devtmpfs")
    for d in ("/run", "/var/log", "/var/lib", "/var/tmp", "/etc/frr", "/dev/shm", "/tmp", "/mnt"):
        if not os.path.isdir(d):
            os.mkdir(d)  # /dev/shm on devtmpfs; the others exist on the host's root
        mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" if d in ("/tmp", "/var/tmp", "/dev/shm") else "mode=755")
    os.makedirs(run_dir, exist_ok=True)
    mount("none", run_dir, "hostfs", 0, run_dir)


def setup_modules(cfg):
    release = os.uname().release
    modules = "/usr/lib/uml/modules"
    if cfg.get("host_modules"):
        # A root of its own (e.g. Debian 13 for FRR 10.3) has no UML modules: mount the host's.
        modules = "/mnt/uml-modules"
        os.makedirs(modules, exist_ok=True)
        mount("none", modules, "hostfs", MS_NOSUID | MS_NODEV, cfg["host_modules"])
    os.makedirs("/mnt/lib/modules", exist_ok=True)
    os.symlink(modules + "/" + release, "/mnt/lib/modules/" + release)
    write_file("/mnt/modprobe", '#!/bin/sh\nexec /usr/sbin/modprobe -d /mnt "$@"\n')
    os.chmod("/mnt/modprobe", 0o755)
    write_file("/proc/sys/kernel/modprobe", "/mnt/modprobe\n")


def setup_node(cfg):
    socket.sethostname(cfg["name"])
    if cfg.get("modules"):
        run(["/usr/sbin/modprobe", "-d", "/mnt", "-a"] + cfg["modules"])
    for key, value in cfg.get("sysctl", {}).items():
        write_file("/proc/sys/" + key, str(value) + "\n")
    if cfg.get("ip_batch"):
        run(["/usr/sbin/ip", "-batch", "-"], "\n".join(cfg["ip_batch"]) + "\n")
    for argv in cfg.get("commands", []):
        run(argv)
    if cfg.get("esp_in_udp_port"):
        # What an IKE daemon would do for NAT-T: a UDP socket the kernel decapsulates ESP on.
        encap = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        encap.setsockopt(socket.IPPROTO_UDP, 100, 2)  # UDP_ENCAP, UDP_ENCAP_ESPINUDP
        encap.bind(("0.0.0.0", cfg["esp_in_udp_port"]))
        KEEP.append(encap)


def start_ike(cfg):
    """Start charon (IKEv2, config in the node dir) when guest.json has an ``ike`` entry."""
    ike = cfg.get("ike")
    if not ike:
        return None
    env = dict(os.environ, **ike.get("env", {}))
    with open(os.path.join(os.environ.get("DMVPN_NODE_DIR", "/tmp"), "charon.out"), "ab") as out:
        proc = subprocess.Popen(ike["charon"], env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    KEEP.append(proc)
    return proc


def load_ike(cfg, proc, deadline=60.0):
    """Wait for charon's vici socket, then ``swanctl --load-all`` (connections and the PSK)."""
    ike = cfg["ike"]
    env = dict(os.environ, **ike.get("env", {}))
    start = time.monotonic()
    while not os.path.exists(ike["vici"]):
        if proc.poll() is not None:
            raise RuntimeError("charon exited with %s before its vici socket appeared" % proc.returncode)
        if time.monotonic() - start > deadline:
            raise RuntimeError("charon's vici socket %s did not appear" % ike["vici"])
        time.sleep(0.05)
    for _ in range(50):  # the socket file appears a moment before charon accepts on it
        proc_load = subprocess.run(ike["load"], capture_output=True, text=True, env=env)
        if proc_load.returncode == 0:
            log("IKE loaded")
            return
        time.sleep(0.1)
    raise RuntimeError("swanctl --load-all failed: %s" % (proc_load.stderr or proc_load.stdout).strip()[-500:])


def start_frr(cfg):
    import pwd
    frr = pwd.getpwnam("frr")
    for d in ("/run/frr", "/var/log/frr", "/var/lib/frr"):
        os.makedirs(d, exist_ok=True)
        os.chown(d, frr.pw_uid, frr.pw_gid)
    for name, text in cfg.get("etc_frr", {}).items():
        write_file("/etc/frr/" + name, text)
    out_path = cfg.get("daemon_output")
    for argv in cfg.get("daemons", []):
        if not out_path:
            run(argv)
            continue
        # FRR 10's daemons keep a captured stdout open after daemonising: never a pipe here
        with open(out_path, "ab") as out:
            start = out.tell()
            rc = subprocess.call(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        if rc != 0:
            with open(out_path, "rb") as fh:
                fh.seek(start)
                tail = fh.read().decode(errors="replace").strip()[-500:]
            raise RuntimeError("%s failed (rc %d): %s" % (" ".join(argv[:3]), rc, tail))


def wait_ready(cfg, deadline=120.0):
    """Wait until the nhrpd vty socket exists and vtysh answers with ``ready_expect`` in its
    output (the node's own tunnel address: nhrpd has learned gre1 from zebra); then run
    ``post_ready``."""
    sock = cfg.get("ready_socket")
    start = time.monotonic()
    while sock and not os.path.exists(sock):
        if time.monotonic() - start > deadline:
            raise RuntimeError("%s did not appear" % sock)
        time.sleep(0.05)
    while True:
        proc = subprocess.run(cfg["ready_check"], capture_output=True, text=True)
        if proc.returncode == 0 and cfg.get("ready_expect", "") in proc.stdout:
            break
        if time.monotonic() - start > deadline:
            raise RuntimeError("vtysh did not answer: %s" % (proc.stderr or proc.stdout).strip())
        time.sleep(0.1)
    for argv in cfg.get("post_ready", []):
        run(argv)


# ---- the command spool -------------------------------------------------------------------------

def run_job(spool, job_id, job):
    result = {"rc": None, "stdout": "", "stderr": "", "timed_out": False}
    started = time.monotonic()
    try:
        op = job.get("op")
        if op == "poweroff":
            write_json_atomic(os.path.join(spool, job_id + ".res"), dict(result, rc=0))
            write_file("/proc/sysrq-trigger", "o")
            return
        if "argv" in job:
            args, shell = job["argv"], False
        else:
            args, shell = job["sh"], True
        try:
            proc = subprocess.run(args, shell=shell, input=job.get("input"), capture_output=True,
                                  timeout=job.get("timeout"),
                                  stdin=None if job.get("input") is not None else subprocess.DEVNULL)
            result.update(rc=proc.returncode, stdout=proc.stdout.decode(errors="replace"),
                          stderr=proc.stderr.decode(errors="replace"))
        except subprocess.TimeoutExpired as exc:
            result.update(rc=-9, timed_out=True,
                          stdout=(exc.stdout or b"").decode(errors="replace"),
                          stderr=(exc.stderr or b"").decode(errors="replace"))
        except OSError as exc:
            result.update(rc=127, stderr="%s\n" % exc)
    except Exception as exc:  # never let a job kill the agent
        result.update(rc=126, stderr="agent error: %r\n" % (exc,))
    result["elapsed"] = time.monotonic() - started
    try:
        write_json_atomic(os.path.join(spool, job_id + ".res"), result)
    except OSError as exc:
        log("cannot write result of %s: %s" % (job_id, exc))


def serve_spool(spool, interval):
    while True:
        try:
            names = os.listdir(spool)
        except OSError:
            names = []
        for name in names:
            if not name.endswith(".job"):
                continue
            path = os.path.join(spool, name)
            try:
                with open(path) as fh:
                    job = json.load(fh)
                os.unlink(path)
            except (OSError, ValueError) as exc:
                log("bad job %s: %s" % (name, exc))
                continue
            if job.get("input") is not None:
                job["input"] = job["input"].encode()
            threading.Thread(target=run_job, args=(spool, name[:-4], job), daemon=True).start()
        time.sleep(interval)


def agent(cfg, status_path, setup_ok):
    try:
        if not setup_ok:
            raise RuntimeError("set-up failed")
        wait_ready(cfg)
    except Exception as exc:
        if setup_ok:
            write_json_atomic(status_path, {"state": "failed", "error": str(exc),
                                            "t": time.monotonic() - T0})
            log("FAILED: %s" % exc)
    else:
        write_json_atomic(status_path, {"state": "ready", "t": time.monotonic() - T0})
        log("ready")
    serve_spool(cfg["spool"], cfg.get("poll_interval", 0.05))


def main():
    node_dir = os.environ.get("DMVPN_NODE_DIR", "")
    run_dir = os.environ.get("DMVPN_RUN_DIR", "")
    try:
        setup_filesystems(run_dir)
        status_path = os.path.join(node_dir, "status.json")
        with open(os.path.join(node_dir, "guest.json")) as fh:
            cfg = json.load(fh)
    except Exception as exc:
        log("FAILED before config: %s" % exc)
        time.sleep(1)
        write_file("/proc/sysrq-trigger", "o")
        return
    setup_ok = False
    try:
        setup_modules(cfg)
        setup_node(cfg)
        log("network configured")
        charon = start_ike(cfg)
        start_frr(cfg)
        log("FRR started")
        if charon is not None:
            load_ike(cfg, charon)
        setup_ok = True
    except Exception as exc:
        log("FAILED: %s" % exc)
        write_json_atomic(status_path, {"state": "failed", "error": str(exc), "t": time.monotonic() - T0})
    pid = os.fork()
    if pid == 0:
        try:
            agent(cfg, status_path, setup_ok)
        finally:
            os._exit(1)
    # PID 1: reap every orphan; power off if the agent dies.
    while True:
        try:
            done, status = os.wait()
        except ChildProcessError:
            time.sleep(1)
            continue
        except InterruptedError:
            continue
        if done == pid:
            log("agent exited (status %d), powering off" % status)
            write_file("/proc/sysrq-trigger", "o")


if __name__ == "__main__":
    main()
