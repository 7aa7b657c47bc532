"""Per-implementation expectations: the deviations from the RFC that a DUT is known to have.

A profile (suites/expectations/<implementation>.yaml) records, per case ID, what was observed and
where it is tracked upstream. It is the regression baseline: a certification run reports every
deviation, a regression run is green exactly when the DUT behaves as recorded, and a recorded
deviation that is gone shows up as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class KnownDeviation:
    case_id: str
    #: the observation's own words, as `decide` produced them; several when the DUT is not consistent
    observed: tuple[str, ...]
    upstream: str = ""  # issue or PR tracking it
    note: str = ""
    #: the DUT also conforms on some runs (e.g. a crash that depends on its memory state)
    intermittent: bool = False

    def matches(self, observed: str) -> bool:
        return observed in self.observed


@dataclass
class ExpectationsProfile:
    implementation: str
    deviations: dict[str, KnownDeviation]
    path: Path | None = None

    def deviation(self, case_id: str) -> KnownDeviation | None:
        return self.deviations.get(case_id)


class ProfileError(ValueError):
    """A malformed expectations profile."""


def load_profile(path: str | Path) -> ExpectationsProfile:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or "implementation" not in data:
        raise ProfileError(f"{path}: needs a top-level 'implementation' key")
    deviations = {}
    for case_id, entry in (data.get("deviations") or {}).items():
        if not isinstance(entry, dict) or "observed" not in entry:
            raise ProfileError(f"{path}: deviations.{case_id} needs an 'observed' string (or list)")
        observed = entry["observed"]
        observed = tuple(str(o) for o in observed) if isinstance(observed, list) else (str(observed),)
        deviations[case_id] = KnownDeviation(
            case_id, observed, str(entry.get("upstream", "")), str(entry.get("note", "")), bool(entry.get("intermittent", False))
        )
    return ExpectationsProfile(str(data["implementation"]), deviations, path)


def dump_profile(profile: ExpectationsProfile) -> str:
    """YAML text of a profile (used to record a new baseline from a run)."""
    def entry(d: KnownDeviation) -> dict:
        observed = d.observed[0] if len(d.observed) == 1 else list(d.observed)
        fields = (("observed", observed), ("intermittent", d.intermittent), ("upstream", d.upstream), ("note", d.note))
        return {k: v for k, v in fields if v}

    body = {
        "implementation": profile.implementation,
        "deviations": {d.case_id: entry(d) for d in sorted(profile.deviations.values(), key=lambda d: d.case_id)},
    }
    return yaml.safe_dump(body, sort_keys=False, width=100)
