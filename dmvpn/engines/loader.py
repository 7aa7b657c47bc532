"""Run a TRex profile file in this process against the STL shim, without the TRex client.

`load_profile("profiles/registration_storm.py", spokes=100)` executes the file with
`trex_stl_lib.api` (and `trex.stl.api`) resolved to `dmvpn.engines.stl_shim`, calls
`register().get_streams(direction=..., port_id=..., **tunables)` the way TRex's
`STLProfile.load_py` does, and returns a shim `STLProfile`. The previous `sys.modules` entries are
restored afterwards, so a real client imported elsewhere in the process is left as it was.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dmvpn.engines import stl_shim

_SHIM_MODULES = ("trex_stl_lib", "trex_stl_lib.api", "trex", "trex.stl", "trex.stl.api")
_counter = itertools.count()


@contextlib.contextmanager
def stl_shim_installed() -> Iterator[types.ModuleType]:
    """`trex_stl_lib.api` and `trex.stl.api` resolve to the shim inside the block."""
    saved = {name: sys.modules.get(name) for name in _SHIM_MODULES}
    packages = {}
    for name in ("trex_stl_lib", "trex", "trex.stl"):
        pkg = types.ModuleType(name, "dmvpn STL shim package")
        pkg.__path__ = []  # a package, so `import trex_stl_lib.api` works
        packages[name] = pkg
    packages["trex_stl_lib"].api = stl_shim  # type: ignore[attr-defined]
    packages["trex.stl"].api = stl_shim  # type: ignore[attr-defined]
    packages["trex"].stl = packages["trex.stl"]  # type: ignore[attr-defined]
    sys.modules.update(packages)
    sys.modules["trex_stl_lib.api"] = stl_shim
    sys.modules["trex.stl.api"] = stl_shim
    try:
        yield stl_shim
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def load_module(path: str | Path) -> types.ModuleType:
    """Execute a profile file under the shim and return its module (for register()/introspection)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"profile {path} does not exist")
    name = f"dmvpn_profile_{path.stem}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    with stl_shim_installed():
        spec.loader.exec_module(module)
    if not hasattr(module, "register"):
        raise AttributeError(f"{path} has no module-level register() (TRex profile convention)")
    return module


def load_profile(path: str | Path, /, direction: int = 0, port_id: int = 0, **tunables: Any) -> stl_shim.STLProfile:
    """The profile's streams as a shim STLProfile (`.to_json()` gives the TRex client's JSON)."""
    module = load_module(path)
    with stl_shim_installed():
        streams = module.register().get_streams(direction=direction, port_id=port_id, **tunables)
    if isinstance(streams, stl_shim.STLProfile):
        profile = streams
    else:
        profile = stl_shim.STLProfile(list(streams) if isinstance(streams, (list, tuple)) else streams)
    profile.meta = {"type": "python", "path": str(Path(path).resolve()), "tunables": dict(tunables)}
    return profile
