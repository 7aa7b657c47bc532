"""What each case records against the in-process DUTs, word for word: `fixtures/observations.json`.

Keyed "CASE|configuration" over the configurations `test_cases_can_fail` runs ("well", "fault:X"
for each declared breaker, "forwarding" and "password" for hub cases) and the set-up failures
`test_case_observations` runs ("setup:silent": a hub that acknowledges no registration;
"setup:ignore-ti": a spoke that ignores Traffic Indications; "setup:no-request": no Registration
Request arrives), each observation as [what, conforms, observed, expected, precondition]. Request
IDs in the observed words are blanked ("request ID # for #": they are random).

A change to what a case records shows up as a difference here: when it is meant, regenerate with
`python -m tests.conformance.observations` and review the fixture's diff.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "observations.json"

#: set-up failures per DUT kind: configuration name -> (faults, no Registration Request)
SETUP_FAILURES = {
    "hub": {"setup:silent": (frozenset({"silent"}), False)},
    "spoke": {"setup:ignore-ti": (frozenset({"ignore-ti"}), False), "setup:no-request": (frozenset(), True)},
    "esp": {},
}


def blank_request_ids(observed: str) -> str:
    """ "request ID 65537 for 65536" -> "request ID # for #" """
    return re.sub(r"request ID \d+( for \d+)?", lambda m: "request ID #" + (" for #" if m.group(1) else ""), observed)


def words(result) -> list[list]:
    return [[o.what, o.conforms, blank_request_ids(o.observed), o.expected, o.precondition] for o in result.observations]


def load() -> dict[str, list[list]]:
    return json.loads(FIXTURE.read_text())


def check(result, key: str) -> None:
    want = load().get(key)
    assert want is not None, f"{key}: not in {FIXTURE.name} (regenerate: python -m tests.conformance.observations)"
    assert words(result) == want, f"{key}: the observations differ from {FIXTURE.name} (regenerate when meant: python -m tests.conformance.observations)"


def no_registration_request(monkeypatch=None):
    """Make `Rig.registration_request` find nothing (it drains the link, triggers nothing)."""
    import suites.conformance._nhc as NHC

    def none(self, trigger: bool = True):
        self.drain()
        return None

    if monkeypatch is not None:
        monkeypatch.setattr(NHC.Rig, "registration_request", none)
    return none


def generate() -> dict[str, list[list]]:
    import suites.conformance._nhc as NHC
    from dmvpn.conformance import all_cases
    from dmvpn.dut.capability import Capability

    from . import test_cases_can_fail as S
    from .selftest import PASSWORD, run

    out = {}
    real = NHC.Rig.registration_request
    for cid in S.CASES:
        info, where = all_cases()[cid], S.kind(cid)
        runs = {"well": (frozenset(), {}, False)}
        runs.update({f"fault:{f}": (frozenset({f}), {}, False) for f in info.breakers})
        if where == "hub":
            runs["forwarding"] = (frozenset(), {"forwarding": True}, False)
            if Capability.AUTHENTICATION not in info.requires:
                runs["password"] = (frozenset(), {"password": PASSWORD}, False)
        runs.update({name: (faults, {}, no_request) for name, (faults, no_request) in SETUP_FAILURES[where].items()})
        for name, (faults, kwargs, no_request) in runs.items():
            NHC.Rig.registration_request = no_registration_request() if no_request else real
            try:
                out[f"{cid}|{name}"] = words(run(S.FUNCTIONS[cid], cid, S.dut(cid, faults, **kwargs)))
            finally:
                NHC.Rig.registration_request = real
            print(cid, name, file=sys.stderr, flush=True)
    return out


if __name__ == "__main__":
    FIXTURE.write_text(json.dumps(generate(), indent=0, ensure_ascii=False) + "\n")
