"""Running one case against one DUT: evidence, the robustness probe, the verdict."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dmvpn.transport import PcapRecorder
from dmvpn.wire import constants as C

from .case import CaseInfo
from .context import CaseContext, Observation
from .profile import ExpectationsProfile
from .verdict import Verdict, decide, not_applicable_reason


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
            "observed": "; ".join(o.observed for o in self.observations if not o.conforms),
        }


def answers_registration(ctx: CaseContext, window: float) -> bool:
    """Whether a DUT hub answers a valid registration from a fresh identity within `window`."""
    nbma, proto = ctx.identity()
    reqid = ctx.dut.reqid_base()
    exchange = ctx.ask(ctx.registration(nbma, proto, reqid).packet, window=window)
    return any(p.nhrp.op_type == C.PacketType.REGISTRATION_REPLY and p.nhrp.reqid == reqid for p in exchange.nhrp())


def expect_alive(ctx: CaseContext, attempts: int = 3) -> None:
    """After malformed input: the DUT still looks healthy and, as a hub, answers a valid registration
    (tried up to `attempts` times, as a spoke retransmits: one lost answer is not a dead DUT)."""
    answered = True
    if ctx.dut.info.role == "hub":
        answered = any(answers_registration(ctx, ctx.window) for _ in range(attempts))
    try:
        healthy, why = ctx.dut.health()
    except Exception as exc:
        healthy, why = False, f"health check failed: {type(exc).__name__}"
    if answered and healthy:
        observed = "alive"
    elif not healthy:
        observed = f"DUT down: {why}"
    else:
        observed = "no answer to a valid registration"
    ctx.observe("alive after malformed input", answered and healthy, observed, "alive")


def run_case(
    fn: Callable[[CaseContext], None],
    info: CaseInfo,
    dut,
    link,
    evidence_dir: Path | None,
    profile: ExpectationsProfile | None,
) -> CaseResult:
    start = time.monotonic()
    pcap = evidence_dir / f"{info.case_id}.pcap" if evidence_dir is not None else None
    ctx = CaseContext(info, dut, link, pcap, window=dut.info.reply_window, quiet=dut.info.quiet_window)
    reason = not_applicable_reason(info, dut.info.capabilities, dut.info.role)
    if reason is not None:
        return CaseResult(info, Verdict.NOT_APPLICABLE, reason, True, None, dut_name=dut.info.name, implementation=dut.info.implementation)
    recorder = PcapRecorder(pcap) if pcap is not None else None
    dut.set_evidence(link, recorder)
    error = ""
    try:
        fn(ctx)
        if info.malformed:
            expect_alive(ctx)
    except Exception as exc:  # the harness failed, not the DUT: report it as such
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
    finally:
        dut.set_evidence(link, None)
        if recorder:
            recorder.close()
    if error:
        verdict, detail, as_recorded = Verdict.ERROR, error, False
    else:
        verdict, detail, as_recorded = decide(info, ctx.observations, profile, dut.info.capabilities, dut.info.role)
    result = CaseResult(info, verdict, detail, as_recorded, pcap, ctx.observations, ctx.notes, time.monotonic() - start)
    result.dut_name, result.implementation = dut.info.name, dut.info.implementation
    if verdict in (Verdict.DEVIATES, Verdict.ERROR):
        _recover(dut, result)
    if result.dut_log and evidence_dir is not None:
        log_path = evidence_dir / f"{info.case_id}.dut.log"
        log_path.write_text(result.dut_log)
        result.notes.append(f"DUT log: {log_path.name}")
    return result


def _recover(dut, result: CaseResult) -> None:
    """If the case left the DUT dead, keep its log as evidence and bring it back for the next case."""
    try:
        healthy, why = dut.health()
    except Exception as exc:
        healthy, why = False, f"{type(exc).__name__}: {exc}"
    if healthy:
        return
    result.dut_log = dut.log()[-20000:]
    result.notes.append(f"DUT unhealthy after the case: {why}")
    try:
        done = dut.recover()
    except Exception as exc:
        done = f"recovery failed: {exc}"
    if done:
        result.notes.append(done)

