"""The comparison's statistics on synthetic runs: latencies drawn from seeded log-normal
distributions, recorded in real HDR histograms with a reservoir of samples (tests/loadtest/synthetic.py).

Unchanged distributions must read "same" (at most one false alarm in 20 seeds, counted), a server
30 ms slower "slower" every time, a faster one "faster"; the profile's regression bound and the
noise floor decide how large a significant change must be."""

from __future__ import annotations

import pytest

from omni.loadtest.analysis import compare
from omni.loadtest.analysis.compare import compare_operation
from tests.loadtest import synthetic

SEEDS = range(20)


def _run(seed: int, *, shift_ms: float = 0.0, sigma: float = 0.35, median_ms: float = 20.0, n: int = 2500):
    values = synthetic.latencies(seed, n, median_ms=median_ms, sigma=sigma, shift_ms=shift_ms)
    return synthetic.report({"tools/call search": values}, seed=seed)


@pytest.mark.parametrize("sigma", [0.35, 1.0], ids=["narrow", "heavy-tailed"])
def test_unchanged_server_reads_same_with_at_most_one_false_alarm(sigma):
    verdicts = []
    for seed in SEEDS:
        baseline = _run(seed, sigma=sigma)
        current = _run(10_000 + seed, sigma=sigma)
        result = compare(current, baseline)
        verdicts.append(result["operations"]["tools/call search"]["verdict"])
        assert result["operations"]["tools/call search"]["conclusive"] is True
    false_alarms = sum(1 for v in verdicts if v != "same")
    assert false_alarms <= 1, verdicts


def test_a_server_30ms_slower_reads_slower_every_time():
    for seed in SEEDS:
        baseline = _run(seed)
        current = _run(10_000 + seed, shift_ms=30.0)
        result = compare(current, baseline)
        op = result["operations"]["tools/call search"]
        assert op["verdict"] == "slower", (seed, op["reasons"])
        assert result["verdict"] == "regressed" and result["regressions"] == ["tools/call search"]
        assert op["mann_whitney"]["p_value"] < 0.01
        assert op["effect_size"]["cliffs_delta"] > 0.474 and op["effect_size"]["magnitude"] == "large"
        low, high = op["latency_ms"]["p50"]["ci_ms"]
        assert 20.0 < low <= high < 40.0  # the interval of the p50 difference holds the true +30 ms
        assert op["latency_ms"]["p50"]["change_pct"] > 100


def test_a_faster_server_reads_faster():
    for seed in range(5):
        baseline = _run(seed, shift_ms=30.0)
        current = _run(10_000 + seed)
        result = compare(current, baseline)
        op = result["operations"]["tools/call search"]
        assert op["verdict"] == "faster", op["reasons"]
        assert op["effect_size"]["cliffs_delta"] < -0.474
        assert result["verdict"] == "passed" and result["improvements"] == ["tools/call search"]


def test_the_profile_regression_bound_decides_how_large_a_change_counts():
    baseline, current = _run(1), _run(2, shift_ms=5.0)  # +5 ms on a 20 ms median: +25 %
    assert compare(current, baseline)["operations"]["tools/call search"]["verdict"] == "slower"
    loose = [{"metric": "regression", "op": "<=", "value": 50, "unit": "%"}]
    result = compare(current, baseline, loose)
    assert result["operations"]["tools/call search"]["verdict"] == "same"
    assert result["operations"]["tools/call search"]["bound"]["pct"] == 50
    assert result["verdict"] == "passed"
    # An absolute bound in ms (the noise floor) raised above the shift: same again.
    assert (
        compare(current, baseline, ["regression <= 8 ms"])["operations"]["tools/call search"]["verdict"]
        == "same"
    )
    # Per operation: a bound for another label leaves this one at the default.
    other = [{"metric": "regression", "op": "<=", "value": 50, "unit": "%", "operation": "tools/list"}]
    assert compare(current, baseline, other)["operations"]["tools/call search"]["verdict"] == "slower"


def test_the_noise_floor_keeps_sub_millisecond_shifts_of_a_fast_server_at_same(settings):
    # A 1 ms server 0.3 ms slower: +30 %, significant, but below the 2 ms floor.
    baseline = _run(3, median_ms=1.0)
    current = _run(4, median_ms=1.0, shift_ms=0.3)
    op = compare(current, baseline)["operations"]["tools/call search"]
    assert op["mann_whitney"]["p_value"] < 0.01 and op["verdict"] == "same"
    settings.LOADTEST_NOISE_FLOOR_MS = 0.1
    assert compare(current, baseline)["operations"]["tools/call search"]["verdict"] == "slower"


def test_too_few_samples_give_no_verdict():
    baseline = _run(5, n=10)
    current = _run(6, n=10, shift_ms=30.0)
    op = compare(current, baseline)["operations"]["tools/call search"]
    assert op["verdict"] == "same" and op["conclusive"] is False
    assert "too few" in op["reasons"][0]


def test_without_samples_the_histogram_is_used():
    baseline = _run(7)
    current = _run(8, shift_ms=30.0)
    for report in (baseline, current):
        report["operations"]["tools/call search"]["samples"] = []
    op = compare(current, baseline)["operations"]["tools/call search"]
    assert op["samples"]["current"] > 1000 and op["verdict"] == "slower"


def test_the_comparison_is_deterministic_and_reports_operations_on_one_side_only():
    baseline = synthetic.report(
        {"a": synthetic.latencies(1, 500), "gone": synthetic.latencies(2, 500)}, seed=1
    )
    current = synthetic.report({"a": synthetic.latencies(3, 500), "new": synthetic.latencies(4, 500)}, seed=2)
    first, second = compare(current, baseline), compare(current, baseline)
    assert first == second
    assert list(first["operations"]) == ["a"]
    assert first["missing"] == ["gone"] and first["added"] == ["new"]
    assert first["method"]["seed"] == second["method"]["seed"]


def test_throughput_fall_beyond_the_bound_regresses_the_run():
    baseline = _run(9)
    current = _run(10, n=1500)  # same latencies, 40 % fewer requests in the same 30 s
    result = compare(current, baseline)
    assert result["throughput"]["verdict"] == "lower" and result["throughput"]["change_pct"] == -40.0
    assert result["operations"]["tools/call search"]["verdict"] == "same"
    assert result["verdict"] == "regressed"


def test_compare_operation_reports_the_percentile_changes():
    baseline, current = _run(11), _run(12, shift_ms=10.0)
    op = compare_operation(
        "x",
        baseline["operations"]["tools/call search"],
        current["operations"]["tools/call search"],
        pct=10,
        floor_ms=2,
    )
    for key in ("p50", "p90", "p95", "p99", "p99_9", "max"):
        entry = op["latency_ms"][key]
        assert entry["change_ms"] == pytest.approx(entry["current"] - entry["baseline"], abs=1e-3)
    assert op["latency_ms"]["p95"]["ci_ms"][0] > 0
