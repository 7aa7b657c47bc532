"""``dmvpn lab up|status|exec|logs|down``: the embedded lab from the command line.

``up`` boots a lab and leaves it running after the command exits (the guests run in their own
sessions; the lab's record is marked *detached*); the other subcommands find it through its record
in /run/dmvpn-lab. Interrupting ``up`` (Ctrl-C, SIGTERM) removes everything it had started.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from .errors import CommandTimeout, LabError, LabTerminated
from .implementations import DEFAULT as DEFAULT_IMPLEMENTATION
from .implementations import names as implementation_names
from .lab import Lab
from .state import list_records, state_lock, teardown
from .topology import Topology


def register(subparsers) -> None:
    lab = subparsers.add_parser("lab", help="FRR nhrpd hubs and spokes in user-mode Linux guests",
                                description=__doc__)
    sub = lab.add_subparsers(dest="lab_command", required=True, metavar="SUBCOMMAND")

    up = sub.add_parser("up", help="boot a lab and leave it running")
    up.add_argument("--hubs", type=int, default=1)
    up.add_argument("--spokes", type=int, default=2)
    up.add_argument("--key", type=int, default=42, help="GRE key (default 42)")
    up.add_argument("--no-key", action="store_true", help="GRE without a key")
    up.add_argument("--network-id", type=int, default=1)
    up.add_argument("--holdtime", type=int, default=600)
    up.add_argument("--unique", action="store_true", help="spokes register unique (U flag)")
    up.add_argument("--no-redirect", action="store_true", help="hubs without ip nhrp redirect")
    up.add_argument("--no-shortcut", action="store_true", help="spokes without ip nhrp shortcut")
    up.add_argument("--esp", action="store_true", help="manual transport-mode ESP SAs between guests")
    up.add_argument("--mem", type=int, default=256, help="guest RAM in MB (default 256)")
    up.add_argument("--implementation", default=DEFAULT_IMPLEMENTATION, choices=implementation_names(),
                    help=f"which FRR the guests run (default {DEFAULT_IMPLEMENTATION}; frr-10.3 builds its "
                         "root once, about 40 s)")
    up.add_argument("--password", default=None,
                    help="ip nhrp authentication PASSWORD on every guest (implementations that have it)")
    up.add_argument("--run-dir", help="keep configs, consoles and logs here (default: a /tmp dir)")
    up.add_argument("--timeout", type=float, default=90.0, help="boot timeout in seconds")
    up.set_defaults(func=cmd_up)

    st = sub.add_parser("status", help="nodes, pids, health and NHRP cache of the running lab(s)")
    st.add_argument("--lab", help="lab id (default: every lab)")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=cmd_status)

    ex = sub.add_parser("exec", help="run a command in a guest: dmvpn lab exec NODE -- COMMAND...")
    ex.add_argument("--lab", help="lab id (needed only when several labs run)")
    ex.add_argument("--timeout", type=float, default=60.0)
    ex.add_argument("node")
    ex.add_argument("command", nargs=argparse.REMAINDER,
                    help="one argument: run through /bin/sh -c; several: exec'd as is")
    ex.set_defaults(func=cmd_exec)

    lg = sub.add_parser("logs", help="print a daemon's log from a guest")
    lg.add_argument("--lab")
    lg.add_argument("--daemon", default="nhrpd", choices=["nhrpd", "zebra", "console"])
    lg.add_argument("node")
    lg.set_defaults(func=cmd_logs)

    rt = sub.add_parser("root", help="the root file system of an implementation that has its own (frr-10.3)")
    rt.add_argument("action", choices=("ensure", "check", "build", "path"),
                    help="ensure: build when missing or broken; check: say what is wrong; build: from nothing")
    rt.add_argument("implementation", nargs="?", default="frr-10.3", choices=implementation_names())
    rt.set_defaults(func=cmd_root)

    dn = sub.add_parser("down", help="remove the running lab(s)")
    dn.add_argument("--lab", help="only this lab id")
    dn.add_argument("--all", action="store_true",
                    help="also labs whose owner process is still running (e.g. a test session)")
    dn.set_defaults(func=cmd_down)


def _say(msg: str) -> None:
    print(f"[dmvpn lab] {msg}", file=sys.stderr, flush=True)


def _fail(cmd: str, msg: str, rc: int = 1) -> int:
    print(f"dmvpn lab {cmd}: {msg}", file=sys.stderr)
    return rc


def cmd_root(args) -> int:
    from .roots import main as roots_main

    return roots_main([args.action, args.implementation])


def cmd_up(args) -> int:
    running = [r for r in list_records() if r.detached]
    if running:
        return _fail("up", f"a lab is already running (id {running[0].id}): run `dmvpn lab down` first")
    try:
        topo = Topology(hubs=args.hubs, spokes=args.spokes, gre_key=None if args.no_key else args.key,
                        network_id=args.network_id, holdtime=args.holdtime, unique=args.unique,
                        redirect=not args.no_redirect, shortcut=not args.no_shortcut, esp=args.esp,
                        mem_mb=args.mem, implementation=args.implementation, nhrp_password=args.password)
    except ValueError as exc:
        return _fail("up", str(exc), 2)
    t0 = time.monotonic()
    lab = Lab(topo, run_dir=args.run_dir, boot_timeout=args.timeout,
              progress=lambda m: _say(f"{time.monotonic() - t0:5.1f}s {m}"))
    try:
        lab.up()
    except LabError as exc:
        return _fail("up", str(exc))
    except LabTerminated as exc:  # the lab has cleaned up already
        print(f"dmvpn lab up: {exc}; everything it started is removed", file=sys.stderr)
        return exc.exit_code
    lab.detach()
    print(f"lab {lab.id} ({topo.implementation}) is up in {lab.boot_seconds:.1f} s: namespace {lab.ns}, run dir {lab.run_dir}")
    for node in lab.nodes.values():
        print(f"  {node.name:<8} {node.role:<5} nbma {node.nbma:<12} tunnel {node.tunnel:<12} "
              f"pid {lab.guests[node.name].pid}" + (f"  lan {node.lan}" if node.lan else ""))
    print("tester 192.0.2.100 on br0; `dmvpn lab exec NODE -- CMD`, `dmvpn lab down` to remove it")
    return 0


def _node_status(lab: Lab, name: str) -> dict:
    node = lab.nodes.get(name)
    g = lab.guests[name]
    info = {"node": name, "role": node.role if node else "?", "nbma": node.nbma if node else "",
            "tunnel": node.tunnel if node else "", "pid": g.pid, "alive": g.alive()}
    if not info["alive"]:
        info["health"] = "guest not running"
        return info
    h = lab.health(name)
    info["health"] = "ok" if h.ok else h.error
    info["daemons"] = h.daemons
    if h.vtysh_ok:
        try:
            cache = lab.nhrp_cache(name)
            info["cache"] = dict(Counter(e.type for e in cache))
        except LabError as exc:
            info["cache_error"] = str(exc)
    return info


def cmd_status(args) -> int:
    recs = [r for r in list_records() if args.lab is None or r.id == args.lab]
    if not recs:
        return _fail("status", f"no lab {args.lab} is running" if args.lab else "no lab is running")
    report = []
    for rec in recs:
        lab = Lab._from_record(rec)
        owner = ("detached (dmvpn lab up)" if rec.detached else
                 f"owned by pid {rec.owner_pid}" + ("" if rec.owner_alive() else " (dead: stale)"))
        with ThreadPoolExecutor(max_workers=max(1, len(lab.guests))) as pool:
            nodes = list(pool.map(lambda n: _node_status(lab, n), lab.guests))
        report.append({"id": rec.id, "ns": rec.ns, "run_dir": rec.run_dir, "owner": owner,
                       "ready": rec.ready, "age_s": round(time.time() - rec.created), "nodes": nodes})
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    for lab in report:
        print(f"lab {lab['id']}  namespace {lab['ns']}  {lab['owner']}  up {lab['age_s']} s  "
              f"run dir {lab['run_dir']}")
        for n in lab["nodes"]:
            cache = ", ".join(f"{k} {v}" for k, v in sorted(n.get("cache", {}).items()))
            print(f"  {n['node']:<8} {n['role']:<5} {n['nbma']:<12} {n['tunnel']:<12} pid {n['pid']:<7} "
                  f"{n['health']:<10}" + (f" cache: {cache}" if cache else ""))
    return 0


def cmd_exec(args) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        return _fail("exec", "no command given: dmvpn lab exec NODE -- COMMAND...", 2)
    try:
        lab = Lab.attach(args.lab)
        res = lab.exec(args.node, command[0] if len(command) == 1 else command, timeout=args.timeout)
    except CommandTimeout as exc:
        return _fail("exec", str(exc), 124)
    except LabError as exc:
        return _fail("exec", str(exc))
    sys.stdout.write(res.stdout)
    sys.stderr.write(res.stderr)
    return res.rc


def cmd_logs(args) -> int:
    try:
        lab = Lab.attach(args.lab)
        text = lab.console(args.node) if args.daemon == "console" else lab.logs(args.node, args.daemon)
    except LabError as exc:
        return _fail("logs", str(exc))
    sys.stdout.write(text)
    return 0


def cmd_down(args) -> int:
    recs = [r for r in list_records() if args.lab is None or r.id == args.lab]
    if not recs:
        print("no lab is running", file=sys.stderr)
        return 0
    rc = 0
    for rec in recs:
        if not (rec.detached or rec.stale or args.all):
            _say(f"lab {rec.id} belongs to running process {rec.owner_pid}; left alone (--all removes it)")
            rc = 1 if args.lab else rc  # only an explicit request that was not done is an error
            continue
        t0 = time.monotonic()
        with state_lock():
            notes = teardown(rec)
        for note in notes:
            _say(f"lab {rec.id}: {note}")
        print(f"lab {rec.id} removed in {time.monotonic() - t0:.2f} s")
    return rc
