"""The run policy, shown on whole runs: every case in collection order against ONE shared DUT,
with the real FRR 8.4 profile, as a lab run does it (not a fresh DUT per case).

- against a well-behaved shared hub (and spoke) every applicable case conforms: cases are isolated;
- the order does not matter: a shuffled run gives the same verdicts;
- a DUT that dies during a chosen case: that case `crashes` (signature from the log written during
  it, reproducer packets), and the recovered DUT gives every later case its usual verdict;
- a DUT that dies and cannot be recovered: no later case conforms or matches the profile, every
  one is `inconclusive`;
- a stale reply left on the link before every case changes no verdict;
- a DUT whose management plane is unreadable: the cases that read its state are `inconclusive`,
  the others keep their verdicts.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from dmvpn.conformance import Verdict, all_cases
from dmvpn.conformance.profile import load_profile
from dmvpn.conformance.runner import CaseRunner
from dmvpn.dut import InProcessDut
from dmvpn.dut.inprocess import InProcessSpokeDut
from dmvpn.wire import templates as T

from .selftest import case_functions, group_modules

ROOT = Path(__file__).resolve().parents[2]
PROFILE = load_profile(ROOT / "suites" / "expectations" / "frr-8.4.yaml")
#: collection order: modules as pytest finds them, cases as they are defined
ORDERED = list(case_functions(group_modules()).items())


def _links():
    opened: dict = {}

    def links(dut):
        key = (id(dut), getattr(dut, "generation", 0))
        if key not in opened:
            opened[key] = dut.open_link()
        return opened[key]

    return links


def run_all(dut, order=None, before_case=None, wrap=None, tmp: Path | None = None) -> dict:
    """Every case of `order` (default: collection order) for this DUT's role, on this one DUT."""
    runner = CaseRunner(_links(), tmp, PROFILE, reproduce=0)
    results = {}
    for case_id, fn in order or ORDERED:
        info = all_cases()[case_id]
        if info.role not in (dut.info.role, "any"):
            continue
        if before_case is not None:
            before_case(case_id, dut, runner.links(dut))
        results[case_id] = runner.run(wrap(case_id, fn) if wrap else fn, info, dut)
    return results


def verdicts(results: dict) -> dict[str, str]:
    return {cid: r.verdict.value for cid, r in results.items()}


@pytest.fixture(scope="module")
def hub_baseline():
    return run_all(InProcessDut())


@pytest.fixture(scope="module")
def spoke_baseline():
    return run_all(InProcessSpokeDut())


def test_every_case_conforms_on_one_shared_well_behaved_hub(hub_baseline) -> None:
    applicable = {cid: r for cid, r in hub_baseline.items() if r.verdict is not Verdict.NOT_APPLICABLE}
    assert len(applicable) >= 60
    wrong = {cid: f"{r.verdict.value}: {r.detail}" for cid, r in applicable.items() if r.verdict is not Verdict.CONFORMS}
    assert not wrong, wrong


def test_every_case_conforms_on_one_shared_well_behaved_spoke(spoke_baseline) -> None:
    applicable = {cid: r for cid, r in spoke_baseline.items() if r.verdict is not Verdict.NOT_APPLICABLE}
    assert len(applicable) >= 15
    wrong = {cid: f"{r.verdict.value}: {r.detail}" for cid, r in applicable.items() if r.verdict is not Verdict.CONFORMS}
    assert not wrong, wrong


def test_a_shuffled_order_gives_the_same_verdicts(hub_baseline, spoke_baseline) -> None:
    order = list(ORDERED)
    random.Random(20261201).shuffle(order)
    assert [cid for cid, _ in order] != [cid for cid, _ in ORDERED]
    assert verdicts(run_all(InProcessDut(), order)) == verdicts(hub_baseline)
    assert verdicts(run_all(InProcessSpokeDut(), order)) == verdicts(spoke_baseline)


def _dies_during(target: str, dut):
    """Wrap the case functions: the DUT crashes halfway through `target` (after its first exchange)."""
    def wrap(case_id, fn):
        if case_id != target:
            return fn

        def dying(ctx):
            original = ctx.exchange

            def exchange(*args, **kwargs):
                result = original(*args, **kwargs)
                dut.crash()
                return result

            ctx.exchange = exchange
            fn(ctx)

        return dying

    return wrap


KILLED_AT = "REG-05"


def test_a_dut_that_dies_during_a_case_is_a_crash_of_that_case_and_the_run_recovers(hub_baseline, tmp_path) -> None:
    dut = InProcessDut()
    results = run_all(dut, wrap=_dies_during(KILLED_AT, dut), tmp=tmp_path)
    crashed = results[KILLED_AT]
    assert crashed.verdict is Verdict.CRASHES, crashed.detail
    assert crashed.signature == "SIGSEGV in receive"
    assert "Received signal 11" in crashed.dut_log
    assert crashed.reproducer is not None and crashed.reproducer.exists()
    assert any("restarted the in-process NHS" in n for n in crashed.notes)
    others = {cid: v for cid, v in verdicts(results).items() if cid != KILLED_AT}
    assert others == {cid: v for cid, v in verdicts(hub_baseline).items() if cid != KILLED_AT}
    # only the crashing case carries a DUT log: no later case gets the whole run's log
    assert [cid for cid, r in results.items() if r.dut_log] == [KILLED_AT]


def test_a_dut_that_stays_dead_gives_no_later_verdict(monkeypatch) -> None:
    dut = InProcessDut()
    monkeypatch.setattr(dut, "recover", lambda force=False: "")  # recovery does not bring it back
    results = run_all(dut, wrap=_dies_during(KILLED_AT, dut))
    ids = list(results)
    later = {cid: results[cid] for cid in ids[ids.index(KILLED_AT) + 1 :]}
    assert results[KILLED_AT].verdict is Verdict.CRASHES
    assert later
    for cid, result in later.items():
        assert result.verdict in (Verdict.INCONCLUSIVE, Verdict.NOT_APPLICABLE), f"{cid}: {result.verdict.value}: {result.detail}"
        assert not (result.verdict is Verdict.KNOWN_DEVIATION or result.verdict is Verdict.CONFORMS)
    assert any(r.verdict is Verdict.INCONCLUSIVE and "DUT down before the case" in r.detail for r in later.values())


def _stale_reply(dut, link, earlier: set[int]) -> None:
    """A successful Registration Reply to a request an earlier case sent, waiting on the link."""
    if not earlier:
        return
    link.inbox.append(T.registration_reply(
        outer_src=dut.info.nbma, outer_dst=dut.info.tester_nbma[0], src_proto="10.254.255.1", dst_proto=dut.info.proto,
        gre_key=dut.info.gre_key, reqid=max(earlier)).packet)


def test_a_stale_reply_on_the_link_changes_no_verdict(hub_baseline) -> None:
    results = run_all(InProcessDut(), before_case=lambda cid, dut, link: _stale_reply(dut, link, set(dut.sent_reqids)))
    assert verdicts(results) == verdicts(hub_baseline)


def test_stale_replies_arriving_between_a_cases_exchanges_are_not_taken(hub_baseline) -> None:
    """A stale reply (to an earlier case's request) arriving before each exchange of a case, and a
    late duplicate of the case's own previous answer: neither is taken for the answer."""
    dut = InProcessDut()

    def wrap(case_id, fn):
        earlier = set(dut.sent_reqids)

        def with_stale(ctx):
            original = ctx.exchange

            def exchange(*args, **kwargs):
                _stale_reply(dut, ctx.link, earlier)
                _stale_reply(dut, ctx.link, ctx.sent_reqids)  # a late duplicate to this case's last request
                return original(*args, **kwargs)

            ctx.exchange = exchange
            fn(ctx)

        return with_stale

    assert verdicts(run_all(dut, wrap=wrap)) == verdicts(hub_baseline)


def test_an_unreadable_management_plane_makes_the_cases_that_need_it_inconclusive(hub_baseline) -> None:
    dut = InProcessDut()
    dut.management_broken = True
    results = run_all(dut)
    changed = {cid: r for cid, r in results.items() if r.verdict.value != hub_baseline[cid].verdict.value}
    assert len(changed) >= 10, "the cases reading the DUT's cache should notice"
    for cid, result in changed.items():
        assert result.verdict is Verdict.INCONCLUSIVE, f"{cid}: {result.verdict.value}: {result.detail}"
        assert "management plane unreadable" in result.detail
        assert result.attempts == 2  # retried once on a freshly recovered DUT


def test_a_case_that_does_not_conform_keeps_what_the_dut_logged_during_it(tmp_path) -> None:
    dut = InProcessDut({"silent"})
    dut._log.append("logged before the case\n")

    def wrap(case_id, fn):
        def logging(ctx):
            dut._log.append(f"logged during {case_id}\n")
            fn(ctx)

        return logging

    order = [(cid, fn) for cid, fn in ORDERED if cid in ("REG-01", "HDR-01")]
    results = run_all(dut, order=order, wrap=wrap, tmp=tmp_path)
    deviating = [cid for cid, r in results.items() if r.verdict is not Verdict.CONFORMS]
    assert deviating, verdicts(results)
    for cid in deviating:
        assert results[cid].dut_log == f"logged during {cid}\n"
        assert (tmp_path / f"{cid}.dut.log").read_text() == f"logged during {cid}\n"
