"""Per-implementation expectations: the deviations from the RFC that a DUT is known to have.

A profile (suites/expectations/<implementation>.yaml) records, per case ID, what was observed,
in which runs, and where it is tracked upstream. It is the regression baseline: a certification run
reports every deviation, a regression run is green exactly when the DUT behaves as recorded, and a
recorded deviation that is gone shows up as such.

A profile holds behaviour, not accidents: only DUT verdicts (deviations and crashes) are recorded,
never a failed precondition or a dead DUT; a deviation seen in some runs only is `intermittent`,
with the reason and the count (seen in k of n runs)::

    HDR-13:
      observed: 'crashes: SIGSEGV in nhrp_packet_recvraw < ...'
      seen_in: [20261201-201500-1234, ...]
      intermittent: {reason: the crash depends on what the heap held, seen: 2, runs: 5}
      upstream: FRRouting/frr#...
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

#: words that describe the harness or a dead DUT, never a behaviour a profile may record
NOT_BEHAVIOUR = re.compile(r"setup:|DUT down|not running|inconclusive|could not test", re.IGNORECASE)


@dataclass(frozen=True)
class Intermittent:
    reason: str
    seen: int  # runs in which the deviation was seen ...
    runs: int  # ... of this many recorded runs

    def words(self) -> str:
        return f"seen in {self.seen} of {self.runs} runs: {self.reason}"


@dataclass(frozen=True)
class KnownDeviation:
    case_id: str
    #: the observation's own words, as `decide` produced them; several when the DUT is not consistent
    observed: tuple[str, ...]
    upstream: str = ""  # issue or PR tracking it
    note: str = ""
    #: the DUT also conforms on some runs (e.g. a crash that depends on its memory state)
    intermittent_as: Intermittent | None = None
    #: the runs (reports/<run id>) in which it was seen
    seen_in: tuple[str, ...] = ()

    @property
    def intermittent(self) -> bool:
        return self.intermittent_as is not None

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


def _intermittent(path: Path, case_id: str, value) -> Intermittent | None:
    if value in (None, False):
        return None
    if not isinstance(value, dict) or not value.get("reason") or not isinstance(value.get("seen"), int) or not isinstance(value.get("runs"), int):
        raise ProfileError(f"{path}: deviations.{case_id}.intermittent needs a reason and counts: "
                           "{reason: ..., seen: K, runs: N} (seen in K of N runs)")
    if not 0 < value["seen"] <= value["runs"]:
        raise ProfileError(f"{path}: deviations.{case_id}.intermittent: seen must be between 1 and runs")
    return Intermittent(str(value["reason"]), value["seen"], value["runs"])


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
        bad = [o for o in observed if NOT_BEHAVIOUR.search(o)]
        if bad:
            raise ProfileError(f"{path}: deviations.{case_id}: {bad[0]!r} is not a behaviour of the DUT "
                               "(a failed precondition or a dead DUT means the case could not test)")
        seen_in = entry.get("seen_in") or ()
        deviations[case_id] = KnownDeviation(
            case_id, observed, str(entry.get("upstream", "")), str(entry.get("note", "")),
            _intermittent(path, case_id, entry.get("intermittent")), tuple(str(r) for r in seen_in),
        )
    return ExpectationsProfile(str(data["implementation"]), deviations, path)


def dump_profile(profile: ExpectationsProfile, header: str = "") -> str:
    """YAML text of a profile (used to record a new baseline from runs)."""
    def entry(d: KnownDeviation) -> dict:
        observed = d.observed[0] if len(d.observed) == 1 else list(d.observed)
        intermittent = ({"reason": d.intermittent_as.reason, "seen": d.intermittent_as.seen, "runs": d.intermittent_as.runs}
                        if d.intermittent_as else None)
        fields = (("observed", observed), ("seen_in", list(d.seen_in)), ("intermittent", intermittent),
                  ("upstream", d.upstream), ("note", d.note))
        return {k: v for k, v in fields if v}

    body = {
        "implementation": profile.implementation,
        "deviations": {d.case_id: entry(d) for d in sorted(profile.deviations.values(), key=lambda d: d.case_id)},
    }
    text = yaml.safe_dump(body, sort_keys=False, width=100, default_flow_style=None)
    return (header if header.endswith("\n") or not header else header + "\n") + text
