"""The TRex client's side of `dmvpn.engines.trex`: runs in its OWN process, never imported by the project.

`python -m dmvpn.engines.trex_child` reads one JSON request on stdin and writes one JSON answer on
stdout. It imports the real client (PyPI lbr-trex-client, which vendors scapy 2.4.3 and puts its
`trex_stl_lib`/`trex` on sys.path) and nothing of the project's scapy 2.8: profiles import only
scapy-free dmvpn modules.

Requests:
  {"op": "load", "profiles": [{"path", "direction", "port_id", "tunables"}]}
      -> {"ok": true, "results": [{"path", "streams": STLProfile.to_json(), "tunables": meta}], "env": {...}}
  {"op": "run", "server", "sync_port", "async_port", "ports", "mult", "duration", "timeout", "profile": {...}}
      -> connect, reset, add_streams, start, wait_on_traffic, stats, stop, disconnect (needs a TRex server)
  {"op": "stop", "server", "ports"}  -> connect, acquire, stop the ports, disconnect
Errors: {"ok": false, "error": "...", "kind": "import" | "load" | "server"}.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any


def _env() -> dict[str, Any]:
    scapy = sys.modules.get("scapy")
    return {
        "python": sys.version.split()[0],
        "scapy_file": getattr(scapy, "__file__", None),
        "project_scapy_layer_loaded": "dmvpn.wire.nhrp" in sys.modules,
    }


def _import_client() -> Any:
    import lbr_trex_client  # noqa: F401  (puts trex_stl_lib / trex on sys.path)
    import trex_stl_lib.api as api

    return api


def _load(api: Any, item: dict[str, Any]) -> Any:
    return api.STLProfile.load_py(
        item["path"], direction=item.get("direction", 0), port_id=item.get("port_id", 0), **item.get("tunables", {})
    )


def op_load(api: Any, request: dict[str, Any]) -> dict[str, Any]:
    results = []
    for item in request["profiles"]:
        profile = _load(api, item)
        results.append({"path": item["path"], "streams": profile.to_json(), "tunables": (profile.meta or {}).get("tunables")})
    return {"ok": True, "results": results, "env": _env()}


def op_run(api: Any, request: dict[str, Any]) -> dict[str, Any]:
    ports = request.get("ports", [0])
    client = api.STLClient(
        server=request["server"], sync_port=request.get("sync_port", 4501), async_port=request.get("async_port", 4500)
    )
    try:
        client.connect()
    except Exception as exc:
        return {"ok": False, "kind": "server", "error": f"cannot connect to TRex at {request['server']}: {exc}"}
    try:
        profile = _load(api, request["profile"])
        client.reset(ports=ports)
        client.add_streams(profile.get_streams(), ports=ports)
        client.clear_stats()
        client.start(ports=ports, mult=str(request.get("mult", "1")), duration=float(request.get("duration", -1)))
        client.wait_on_traffic(ports=ports, timeout=request.get("timeout"))
        stats = client.get_stats()
        client.stop(ports=ports)
        return {"ok": True, "stats": json.loads(json.dumps(stats, default=str)), "env": _env()}
    finally:
        client.disconnect()


def op_stop(api: Any, request: dict[str, Any]) -> dict[str, Any]:
    client = api.STLClient(
        server=request["server"], sync_port=request.get("sync_port", 4501), async_port=request.get("async_port", 4500)
    )
    try:
        client.connect()
    except Exception as exc:
        return {"ok": False, "kind": "server", "error": f"cannot connect to TRex at {request['server']}: {exc}"}
    try:
        client.acquire(ports=request.get("ports", [0]), force=True)
        client.stop(ports=request.get("ports", [0]))
        return {"ok": True, "env": _env()}
    finally:
        client.disconnect()


def main() -> int:
    request = json.load(sys.stdin)
    try:
        api = _import_client()
    except Exception as exc:
        json.dump({"ok": False, "kind": "import", "error": f"cannot import the TRex client (lbr-trex-client): {exc!r}"}, sys.stdout)
        return 0
    try:
        answer = {"load": op_load, "run": op_run, "stop": op_stop}[request["op"]](api, request)
    except Exception as exc:
        answer = {"ok": False, "kind": "load", "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    json.dump(answer, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
