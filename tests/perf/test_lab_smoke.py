"""One small run of the FRR benchmarks against the embedded lab (about 30 s; skipped without a lab).

Registration: 50 NAT'd emulated spokes register at the FRR hub, which must then hold exactly those
50 bindings (protocol, NBMA, claimed NBMA) in its cache; then a short refresh ramp. Shortcut: one
pair of FRR spokes must switch to the direct path. No assertion about speed.
"""

from __future__ import annotations

import math

import pytest

from dmvpn.lab import PrerequisiteError, check_prerequisites

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module", autouse=True)
def lab_available() -> None:
    try:
        check_prerequisites()
    except PrerequisiteError as exc:
        pytest.skip(f"lab not available: {exc}")


def test_registration_storm_lands_in_the_frr_cache() -> None:
    from dmvpn.bench.registration import bench_registration

    rows = list(bench_registration(spokes=[50], repeat=1, step_s=0.3, bisect=1, start_rate=200.0))
    figures = {r["metric"]: r for r in rows if r["metric"] != "latency_ms_q"}
    assert figures["cache_entries"]["value"] == 50
    assert figures["cache_entries"]["lost"] == 0 and figures["cache_entries"]["naks"] == 0
    assert figures["all_in_cache_s"]["value"] > 0
    assert figures["max_rate_no_loss"]["value"] >= 200.0
    assert figures["p50_ms"]["value"] <= figures["p99_ms"]["value"]
    assert figures["register_rate"]["implementation"].startswith("FRR")
    quantiles = [r for r in rows if r["metric"] == "latency_ms_q"]
    assert [r["value"] for r in quantiles] == sorted(r["value"] for r in quantiles)


def test_one_pair_of_frr_spokes_takes_the_shortcut() -> None:
    from dmvpn.bench.shortcut import bench_shortcut

    rows = list(bench_shortcut(pairs=1, repeat=1))
    sample = next(r for r in rows if r["metric"] == "time_to_shortcut_ms")
    redirect = next(r for r in rows if r["metric"] == "time_to_redirect_ms")
    assert not math.isnan(sample["value"]) and sample["value"] > 0
    assert 0 < redirect["value"] < sample["value"]  # Traffic Indication before the first direct packet
    p50 = next(r for r in rows if r["metric"] == "time_to_shortcut_ms_p50")
    assert p50["value"] == sample["value"] and p50["missing"] == 0
