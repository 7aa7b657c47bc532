"""The run policy: whether a case's verdict may be given, and running it so that it may.

The one room that decides, for every case whatever its suite:

- **health**: before a case the DUT must be alive (else it is recovered; a DUT still down gives
  `inconclusive`); after every case the DUT adapter is asked again (processes, and the answering
  probe where the DUT has one). A DUT that went down, restarted or stopped answering during a case
  is a finding of that case: `crashes`, with the signature from the log lines written during it
  and a reproducer (the packets the case sent), replayed on freshly booted DUTs to say how often
  it reproduces. The DUT is then recovered for the next case.
- **preconditions**: a case whose preconditions failed could not test (`inconclusive`); it is
  retried once on a freshly recovered DUT.
- **isolation**: before each case the DUT's state is reset where its management allows it
  (FRR: `clear ip nhrp cache`); the context drains the link and matches replies to requests.

The verdict itself comes from `verdict.decide`, from the observations alone.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dmvpn.transport import PcapRecorder

from .case import CaseInfo
from .context import CaseContext, Observation
from .profile import ExpectationsProfile
from .replay import ReplayOutcome, health_of, replay_on_fresh_dut, write_packets
from .verdict import Verdict, decide, decide_crash, not_applicable_reason


@dataclass
class CaseResult:
    info: CaseInfo
    verdict: Verdict
    detail: str
    as_recorded: bool
    pcap: Path | None
    observations: list[Observation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration: float = 0.0
    dut_log: str = ""
    dut_name: str = ""
    implementation: str = ""
    #: a crash: its signature, the reproducer pcap, and how often it crashed a fresh DUT ("3/3")
    signature: str = ""
    reproducer: Path | None = None
    reproduced: str = ""
    attempts: int = 1

    def row(self) -> dict:
        return {
            "dut": self.dut_name,
            "implementation": self.implementation,
            "case_id": self.info.case_id,
            "group": self.info.group,
            "clause": self.info.clause,
            "level": self.info.level,
            "role": self.info.role,
            "requirement": self.info.requirement,
            "verdict": self.verdict.value,
            "detail": self.detail,
            "as_recorded": self.as_recorded,
            "pcap": str(self.pcap) if self.pcap else "",
            "notes": " | ".join(self.notes),
            "duration_s": round(self.duration, 3),
            # the failing observations' own words: what an expectations profile records
            "observed": self.observed_words(),
            "signature": self.signature,
            "reproducer": str(self.reproducer) if self.reproducer else "",
            "reproduced": self.reproduced,
            "attempts": self.attempts,
        }

    def observed_words(self) -> str:
        if self.verdict is Verdict.CRASHES:
            return self.detail
        if self.verdict is Verdict.INCONCLUSIVE:
            return ""  # nothing about the DUT: never a profile's words
        return "; ".join(o.observed for o in self.observations if not o.conforms and not o.precondition)


class _Evidence(PcapRecorder):
    """A case's pcap, also keeping what passed in memory (the reproducer is cut from it)."""

    def __init__(self, path: Path | None) -> None:
        self.packets: list[tuple[float, bytes]] = []
        self._pcap = path is not None
        if self._pcap:
            super().__init__(path)

    def write(self, packet: bytes, timestamp: float | None = None) -> None:
        ts = time.time() if timestamp is None else timestamp
        self.packets.append((ts, bytes(packet)))
        if self._pcap:
            super().write(packet, ts)

    def close(self) -> None:
        if self._pcap:
            super().close()

    def sent_by_tester(self, dut_nbma: str) -> list[tuple[float, bytes]]:
        """What the tester sent (everything whose source is not the DUT)."""
        dut = bytes(int(x) for x in dut_nbma.split("."))
        return [(ts, p) for ts, p in self.packets if len(p) >= 20 and p[12:16] != dut]


Links = Callable[[object], object]


class CaseRunner:
    """Runs cases against the DUTs of one run, under the run policy (see the module docstring)."""

    def __init__(
        self,
        links: Links,
        evidence_dir: Path | None = None,
        profile: Callable[[str], ExpectationsProfile | None] | ExpectationsProfile | None = None,
        reproduce: int = 3,
        retry_inconclusive: bool = True,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.links = links
        self.evidence_dir = evidence_dir
        self._profile = profile
        self.reproduce = reproduce
        self.retry_inconclusive = retry_inconclusive
        self.progress = progress or (lambda message: None)

    def profile_for(self, implementation: str) -> ExpectationsProfile | None:
        if callable(self._profile):
            return self._profile(implementation)
        return self._profile

    # -- one case ------------------------------------------------------------------------------

    def run(self, fn: Callable[[CaseContext], None], info: CaseInfo, dut) -> CaseResult:
        start = time.monotonic()
        if dut is None:
            reason = not_applicable_reason(info, frozenset(), None)
            return CaseResult(info, Verdict.NOT_APPLICABLE, reason or "", True, None)
        reason = not_applicable_reason(info, dut.info.capabilities, dut.info.role)
        if reason is not None:
            return self._finish(CaseResult(info, Verdict.NOT_APPLICABLE, reason, True, None), dut, start)
        result = self._attempt(fn, info, dut)
        if result.verdict is Verdict.INCONCLUSIVE and self.retry_inconclusive:
            first = result.detail
            try:
                done = dut.recover(force=True)
            except Exception as exc:
                done = f"recovery failed: {type(exc).__name__}: {exc}"
            result = self._attempt(fn, info, dut)
            result.attempts = 2
            result.notes.insert(0, f"first try inconclusive ({first}); retried once on a freshly recovered DUT ({done or 'nothing to do'})")
        return self._finish(result, dut, start)

    def _finish(self, result: CaseResult, dut, start: float) -> CaseResult:
        result.duration = time.monotonic() - start
        result.dut_name, result.implementation = dut.info.name, dut.info.implementation
        if result.dut_log and self.evidence_dir is not None:
            log_path = self.evidence_dir / f"{result.info.case_id}.dut.log"
            log_path.write_text(result.dut_log)
            result.notes.append(f"DUT log during the case: {log_path.name}")
        return result

    def _attempt(self, fn: Callable[[CaseContext], None], info: CaseInfo, dut) -> CaseResult:
        pcap = self.evidence_dir / f"{info.case_id}.pcap" if self.evidence_dir is not None else None
        profile = self.profile_for(dut.info.implementation)
        notes: list[str] = []
        # 1. A DUT known alive before the case, or no DUT verdict.
        before, why = self._ready(dut, notes)
        if before is None:
            return CaseResult(info, Verdict.INCONCLUSIVE, f"could not test: DUT down before the case ({why})", False, None, notes=notes)
        # 2. A state no earlier case shaped.
        try:
            done = dut.reset_state()
        except Exception as exc:
            done = f"could not reset the DUT's state: {type(exc).__name__}: {str(exc)[:200]}"
        if done:
            notes.append(done)
        # 3. The case, with its evidence.
        link = self.links(dut)
        ctx = CaseContext(info, dut, link, pcap, window=dut.info.reply_window, quiet=dut.info.quiet_window)
        ctx.drain()
        evidence = _Evidence(pcap)
        mark = dut.log_mark()
        dut.set_evidence(link, evidence)
        error = ""
        try:
            fn(ctx)
        except Exception as exc:  # the harness failed, not the DUT: report it as such
            error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
        finally:
            dut.set_evidence(link, None)
            evidence.close()
        notes.extend(ctx.notes)
        # 4. Health after the case, whatever its verdict.
        down = self._went_down(dut, link, before)
        if down:
            return self._crashed(info, dut, ctx, evidence, mark, down, pcap, notes, profile)
        if error:
            return CaseResult(info, Verdict.ERROR, error, False, pcap, ctx.observations, notes, dut_log=_log(dut, mark))
        if info.malformed:
            # The robustness requirement of every malformed-input case, met: the health check above.
            ctx.observe("alive after malformed input", True, "alive", "alive")
        verdict, detail, as_recorded = decide(info, ctx.observations, profile)
        # What the DUT logged during a case that did not conform is kept beside its pcap: the
        # first thing a reader of a deviation (or of a rare intermittent one) asks for.
        log = _log(dut, mark) if verdict is not Verdict.CONFORMS else ""
        return CaseResult(info, verdict, detail, as_recorded, pcap, ctx.observations, notes, dut_log=log)

    # -- health --------------------------------------------------------------------------------

    def _ready(self, dut, notes: list[str]):
        """The DUT's health state before a case (recovering it once if it is down), or (None, why)."""
        state = health_of(dut)
        if state.alive:
            return state, ""
        notes.append(f"DUT down before the case: {state.why}")
        try:
            done = dut.recover()
        except Exception as exc:
            return None, f"{state.why}; recovery failed: {type(exc).__name__}: {exc}"
        if done:
            notes.append(done)
        state = health_of(dut)
        return (state, "") if state.alive else (None, state.why)

    def _went_down(self, dut, link, before) -> str:
        """"" when the DUT is alive, the same processes as before the case, and answering; else why not."""
        after = health_of(dut)
        if not after.alive:
            return after.why
        if before.ids and after.ids and before.ids != after.ids:
            return "restarted during the case"
        try:
            answering = dut.answers_probe(link)
        except Exception as exc:
            return f"probe failed: {type(exc).__name__}: {exc}"
        if answering is False:
            return "alive but no answer to a valid registration"
        return ""

    def _crashed(self, info, dut, ctx, evidence: _Evidence, mark: int, why: str, pcap, notes, profile) -> CaseResult:
        log = _log(dut, mark)
        signature = dut.crash_signature(log) or why
        verdict, detail, as_recorded = decide_crash(info, signature, profile)
        result = CaseResult(info, verdict, detail, as_recorded, pcap, ctx.observations, notes, dut_log=log, signature=signature)
        notes.append(f"DUT went down during the case: {why}")
        packets = evidence.sent_by_tester(dut.info.nbma)
        if self.evidence_dir is not None and packets:
            result.reproducer = self.evidence_dir / f"{info.case_id}.reproducer.pcap"
            write_packets(result.reproducer, packets)
        if self.reproduce and packets:
            self.progress(f"{info.case_id}: replaying its {len(packets)} packets on {self.reproduce} freshly booted DUTs")
            outcomes = [replay_on_fresh_dut(dut, self.links, packets) for _ in range(self.reproduce)]
            result.reproduced = reproduction_words(outcomes, signature)
            notes.append(f"reproducer: {result.reproduced}")
        try:
            done = dut.recover(force=True)
        except Exception as exc:
            done = f"recovery failed: {type(exc).__name__}: {exc}"
        if done:
            notes.append(done)
        return result


def _log(dut, mark: int) -> str:
    try:
        return dut.log_since(mark)
    except Exception as exc:  # a DUT whose log cannot be read still gets its verdict
        return f"(DUT log unreadable: {type(exc).__name__}: {exc})"


def reproduction_words(outcomes: list[ReplayOutcome], signature: str) -> str:
    """"crashed 3/3 fresh DUTs (deterministic)", "crashed 1/3 fresh DUTs", ... in fixed words."""
    crashed = [o for o in outcomes if o.kind == "crashes"]
    same = [o for o in crashed if o.signature == signature]
    words = f"crashed {len(crashed)}/{len(outcomes)} fresh DUTs"
    if crashed and len(same) != len(crashed):
        words += f" ({len(same)} with the same signature)"
    if outcomes and len(same) == len(outcomes):
        words += " (deterministic)"
    return words


def run_case(
    fn: Callable[[CaseContext], None],
    info: CaseInfo,
    dut,
    link,
    evidence_dir: Path | None,
    profile: ExpectationsProfile | None,
    reproduce: int = 0,
) -> CaseResult:
    """One case on its own (self-tests): the run policy, starting with this link (a new one is
    opened when the DUT is recovered)."""
    opened = {getattr(dut, "generation", 0): link}

    def links(d):
        generation = getattr(d, "generation", 0)
        if generation not in opened:
            opened[generation] = d.open_link()
        return opened[generation]

    return CaseRunner(links, evidence_dir, profile, reproduce=reproduce).run(fn, info, dut)
