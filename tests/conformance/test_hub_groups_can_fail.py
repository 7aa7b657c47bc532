"""The DUT-as-hub clause groups (encapsulation, NAT, resolution, purge, redirect, errors, IPv6 and
the further registration cases) are shown able to fail: each case conforms against the well-behaved
in-process hub, also when that hub forwards its clients' Resolution Requests (as DMVPN hubs do) and
when it requires authentication, and deviates against a hub with each fault of its BREAKERS row.
"""

from __future__ import annotations

import pytest

from dmvpn.conformance import Verdict, all_cases
from dmvpn.peers.nhs import FAULTS

from .selftest import PASSWORD, case_functions, dut_for, group_modules, hub_cases, run, expected_verdict

MODULES = group_modules(["encapsulation", "nat", "resolution", "purge", "redirect", "errors", "ipv6", "registration_more"])
FUNCTIONS = case_functions(MODULES)
HUB_CASES = hub_cases(FUNCTIONS)

#: For each case, the faults of the in-process hub that must make it report a deviation.
BREAKERS: dict[str, list[str]] = {
    "ENC-01": ["silent", "wrong-reqid"],
    "ENC-02": ["ignore-gre-key"],
    "ENC-03": ["reject-gre-checksum"],
    "ENC-04": ["ignore-gre-checksum", "crash-on-malformed"],
    "ENC-05": ["ignore-gre-reserved", "crash-on-malformed"],
    "ENC-06": ["strict-gre-reserved"],
    "ENC-07": ["ignore-gre-version", "crash-on-malformed"],
    "ENC-08": ["crash-on-gre-sequence", "wrong-reqid"],
    "ENC-09": ["accept-narp"],
    "NAT-01": ["reply-to-claimed-nbma", "no-nat-extension", "nat-binding-claimed"],
    "NAT-02": ["reply-to-claimed-nbma", "nat-binding-claimed", "nat-ext-unsolicited"],
    "NAT-03": ["nat-binding-claimed"],
    "NAT-04": ["one-binding-per-nbma"],
    "RES-01": ["bad-checksum", "no-responder-address", "forward-keep-hopcnt", "forward-no-transit-record"],
    "RES-02": ["no-hop-check"],
    "RES-03": ["no-loop-check"],
    "RES-04": ["no-loop-check"],
    "RES-05": ["nak-code-11", "nak-holding-time"],
    "RES-06": ["ignore-resolution-uniqueness"],
    "RES-07": ["answer-non-authoritative"],
    "PUR-01": ["no-purge", "keep-on-purge", "bad-checksum"],
    "PUR-02": ["keep-on-purge", "reply-despite-n"],
    "PUR-03": ["no-purge", "purge-reply-only-if-cached"],
    "PUR-05": ["purge-on-reply"],
    "P3-01": ["no-redirect", "bad-checksum"],
    "P3-02": ["redirect-every-packet", "no-redirect"],
    "P3-04": ["redirect-any-source"],
    "ERR-01": ["error-twice", "error-and-process"],
    "ERR-02": ["error-on-error", "no-hop-check"],
    "ERR-03": ["no-ei-loop-check"],
    "ERR-04": ["error-with-extensions", "error-src-offender", "bad-checksum"],
    "V6-01": ["no-responder-address", "wrong-reqid"],
    "V6-04": ["no-redirect"],
    "REG-05": ["ignore-holding-time"],
    "REG-06": ["default-for-zero-holding-time", "ignore-holding-time"],
    "REG-10": ["subnet-code-13"],
    "REG-13": ["register-any-destination"],
    "REG-14": ["drop-extensions"],
    "REG-15": ["ignore-auth"],
    "REG-16": ["auth-prefix-compare"],
    "REG-17": ["error-on-error"],
    "REG-21": ["duplicate-extensions", "crash-on-malformed"],
    "REG-22": ["no-end-extension"],
    "REG-23": ["answer-anything", "crash-on-malformed"],
    "REG-24": ["ext-u-bit-echoed"],
}

#: Cases a DUT without a password cannot run (they test its authentication).
AUTH_CASES = [cid for cid in HUB_CASES if "authentication" in all_cases()[cid].requires]


def test_every_hub_case_has_a_breaker() -> None:
    missing = [cid for cid in HUB_CASES if not BREAKERS.get(cid)]
    assert not missing, f"cases never shown able to fail: {missing}"
    assert sorted(BREAKERS) == HUB_CASES, f"breakers for cases that do not exist: {sorted(set(BREAKERS) - set(HUB_CASES))}"
    unknown = {f for faults in BREAKERS.values() for f in faults} - FAULTS
    assert not unknown, f"unknown faults: {sorted(unknown)}"


@pytest.mark.parametrize("case_id", HUB_CASES)
def test_conforms_against_the_well_behaved_hub(case_id: str) -> None:
    result = run(FUNCTIONS[case_id], case_id, dut_for(case_id))
    assert result.verdict is Verdict.CONFORMS, result.detail


@pytest.mark.parametrize("case_id", HUB_CASES)
def test_conforms_against_a_forwarding_hub(case_id: str) -> None:
    result = run(FUNCTIONS[case_id], case_id, dut_for(case_id, forwarding=True))
    assert result.verdict is Verdict.CONFORMS, result.detail


@pytest.mark.parametrize("case_id", [cid for cid in HUB_CASES if cid not in AUTH_CASES])
def test_conforms_against_a_hub_with_authentication(case_id: str) -> None:
    """The cases' own packets carry the DUT's password: they run against a hub that checks it."""
    result = run(FUNCTIONS[case_id], case_id, dut_for(case_id, password=PASSWORD))
    assert result.verdict is Verdict.CONFORMS, result.detail


@pytest.mark.parametrize("case_id,fault", [(cid, fault) for cid in HUB_CASES for fault in BREAKERS.get(cid, [])])
def test_deviates_against_a_wrong_hub(case_id: str, fault: str) -> None:
    result = run(FUNCTIONS[case_id], case_id, dut_for(case_id, {fault}))
    assert result.verdict is expected_verdict(fault), f"{case_id} with {fault}: {result.verdict.value}: {result.detail}"
