"""Thresholds, fairness (Jain's index, the noisy neighbour), the gateway's overhead and the stress
knee, on reports with known numbers."""

from __future__ import annotations

import numpy as np
import pytest

from omni.loadtest import hdr
from omni.loadtest.analysis import ThresholdError, check_thresholds, fairness, jain_index, knee, overhead
from omni.loadtest.analysis.knee import offered_rate
from omni.loadtest.analysis.thresholds import normalise, regression_limits
from tests.loadtest import synthetic


def _report(**fields):
    base = {
        "requests": 1000,
        "errors": 2,
        "duration_s": 10.0,
        "throughput": 100.0,
        "error_rate": 0.002,
        "latency_ms": {
            "p50": 10.0,
            "p90": 30.0,
            "p95": 40.0,
            "p99": 90.0,
            "p99_9": 150.0,
            "max": 200.0,
            "mean": 14.0,
        },
        "operations": {
            "search": {
                "count": 600,
                "errors": {"http_5xx": 2},
                "throughput": 60.0,
                "latency_ms": {"p50": 12.0, "p95": 260.0, "p99": 300.0},
            },
            "list": {"count": 400, "errors": {}, "throughput": 40.0, "latency_ms": {"p50": 5.0, "p95": 9.0}},
        },
    }
    base.update(fields)
    return base


# --------------------------------------------------------------------------- thresholds
def test_thresholds_pass_and_fail_with_units():
    rows = check_thresholds(
        _report(),
        [
            {"metric": "p95", "op": "<=", "value": 250, "unit": "ms"},
            {"metric": "p99", "op": "<", "value": 0.08, "unit": "s"},
            {"metric": "error_rate", "op": "<=", "value": 0.1, "unit": "%"},
            {"metric": "error_rate", "op": "<=", "value": 1, "unit": "%"},
            {"metric": "throughput", "op": ">=", "value": 50, "unit": "/s"},
            {"metric": "p95", "op": "<=", "value": 250, "unit": "ms", "operation": "search"},
            {"metric": "regression", "op": "<=", "value": 10, "unit": "%"},
        ],
    )
    assert [(r["threshold"], r["value"], r["passed"]) for r in rows] == [
        ("p95 <= 250 ms", 40.0, True),
        ("p99 < 0.08 s", 0.09, False),
        ("error_rate <= 0.1%", 0.2, False),
        ("error_rate <= 1%", 0.2, True),
        ("throughput >= 50/s", 100.0, True),
        ("search: p95 <= 250 ms", 260.0, False),
    ]
    assert rows[5]["operation"] == "search" and rows[5]["limit"] == 250 and rows[5]["metric"] == "p95"


def test_thresholds_in_text_form_and_an_operation_that_never_ran():
    rows = check_thresholds(_report(), ["list: p50 <= 6 ms", "missing: p95 <= 100 ms", "p99.9 <= 200ms"])
    assert [(r["operation"], r["metric"], r["value"], r["passed"]) for r in rows] == [
        ("list", "p50", 5.0, True),
        ("missing", "p95", None, False),
        (None, "p99_9", 150.0, True),
    ]
    # error rate without an explicit error_rate: computed from the operation's counts
    assert check_thresholds(_report(), ["search: error_rate <= 0.5 %"])[0]["value"] == pytest.approx(
        0.3333, abs=1e-3
    )


# What the profiles part's parse_threshold gives for "error_rate <= 0.1%", "regression <= 10%",
# "calc: p99 <= 500ms" and "throughput >= 50/s".
PARSED = [
    {
        "metric": "error_rate",
        "op": "<=",
        "value": 0.001,
        "unit": "ratio",
        "operation": None,
        "text": "error_rate <= 0.1%",
    },
    {
        "metric": "regression",
        "op": "<=",
        "value": 0.1,
        "unit": "ratio",
        "operation": None,
        "text": "regression <= 10%",
    },
    {
        "metric": "p99",
        "op": "<=",
        "value": 500.0,
        "unit": "ms",
        "operation": "search",
        "text": "search: p99 <= 500ms",
    },
    {
        "metric": "throughput",
        "op": ">=",
        "value": 50.0,
        "unit": "rps",
        "operation": None,
        "text": "throughput >= 50/s",
    },
]


def test_thresholds_as_the_profiles_part_parses_them():
    rows = check_thresholds(_report(), PARSED)
    assert [(r["threshold"], r["value"], r["limit"], r["passed"]) for r in rows] == [
        ("error_rate <= 0.1%", 0.002, 0.001, False),
        ("search: p99 <= 500ms", 300.0, 500.0, True),
        ("throughput >= 50/s", 100.0, 50.0, True),
    ]
    assert regression_limits(PARSED) == {None: {"pct": 10.0}}


def test_bad_thresholds_are_refused():
    for bad in ("p42 <= 1 ms", "p95 about 3", {"metric": "p95", "op": "<=", "value": "x"}):
        with pytest.raises(ThresholdError):
            normalise(bad)
    with pytest.raises(ThresholdError):
        check_thresholds(_report(), [{"metric": "p95", "op": "<=", "value": 3, "unit": "%"}])
    assert regression_limits(["regression <= 10 %", "search: regression <= 5 ms"]) == {
        None: {"pct": 10.0},
        "search": {"ms": 5.0},
    }


# --------------------------------------------------------------------------- fairness
def _orgs(throughputs, weights=None, p99=None, errors=None):
    orgs = {}
    for i, (slug, thr) in enumerate(throughputs.items()):
        count = int(thr * 10)
        errs = (errors or {}).get(slug, {})
        orgs[slug] = {
            "count": count,
            "errors": sum(errs.values()),
            "errors_by_kind": errs,
            "throughput": thr,
            "error_rate": sum(errs.values()) / count if count else 0.0,
            "latency_ms": {"p50": 10.0, "p99": (p99 or {}).get(slug, 50.0)},
        }
    return {"orgs": orgs}


def test_jain_index_on_known_inputs():
    assert jain_index([5.0, 5.0, 5.0, 5.0]) == pytest.approx(1.0)
    assert jain_index([1.0, 0.0, 0.0, 0.0]) == pytest.approx(0.25)
    assert jain_index([3.0, 1.0]) == pytest.approx(16 / 20)
    assert jain_index([]) is None and jain_index([0.0, 0.0]) is None


def test_fairness_normalises_by_weight():
    # Throughput exactly proportional to the weights: perfectly fair.
    result = fairness(_orgs({"a": 100.0, "b": 200.0, "c": 100.0}), {"a": 1, "b": 2, "c": 1})
    assert result["jain_index"] == pytest.approx(1.0)
    assert (
        result["organizations"]["b"]["share"] == 0.5 and result["organizations"]["b"]["expected_share"] == 0.5
    )
    assert "noisy_neighbour" not in result
    # Equal weights, one organization served everything: the worst, 1/n.
    worst = fairness(_orgs({"a": 300.0, "b": 0.0, "c": 0.0}))
    assert worst["jain_index"] == pytest.approx(1 / 3, abs=1e-4) and worst["worst_possible"] == pytest.approx(
        0.3333
    )


def test_noisy_neighbour_contained_by_rate_limits():
    weights = {"noisy": 10, "q1": 1, "q2": 1}
    # The noisy organization was refused (429) down to its limit; the quiet ones kept their p99.
    run = _orgs(
        {"noisy": 100.0, "q1": 20.0, "q2": 20.0},
        p99={"noisy": 30.0, "q1": 52.0, "q2": 49.0},
        errors={"noisy": {"http_429": 500}},
    )
    reference = _orgs({"q1": 20.0, "q2": 20.0}, p99={"q1": 50.0, "q2": 50.0})
    result = fairness(run, weights, reference=reference)
    noisy = result["noisy_neighbour"]
    assert noisy["noisy"] == ["noisy"] and noisy["noisy_rate_limited"] == {"noisy": 500}
    assert noisy["isolated"] is True and noisy["p99_judged"] is True
    assert noisy["quiet"]["q1"]["p99_limit"] == pytest.approx(50 * 1.5 + 2.0)
    assert result["organizations"]["noisy"]["rate_limited"] == 500


def test_noisy_neighbour_that_hurts_the_others_is_reported():
    weights = {"noisy": 10, "q1": 1, "q2": 1}
    reference = _orgs({"q1": 20.0, "q2": 20.0}, p99={"q1": 50.0, "q2": 50.0})
    slow = _orgs({"noisy": 400.0, "q1": 10.0, "q2": 20.0}, p99={"noisy": 300.0, "q1": 400.0, "q2": 51.0})
    result = fairness(slow, weights, reference=reference)["noisy_neighbour"]
    assert result["isolated"] is False
    assert result["quiet"]["q1"]["p99_ok"] is False and result["quiet"]["q2"]["ok"] is True
    # Without a reference the p99 is not judged, but a quiet organization refused by the limits is.
    refused = _orgs({"noisy": 400.0, "q1": 20.0, "q2": 20.0}, errors={"q2": {"http_429": 3}})
    result = fairness(refused, weights)["noisy_neighbour"]
    assert result["p99_judged"] is False and result["quiet"]["q1"]["p99_ok"] is None
    assert result["quiet"]["q1"]["ok"] is True and result["quiet"]["q2"]["errors_ok"] is False
    assert result["isolated"] is False


# --------------------------------------------------------------------------- overhead
def test_overhead_per_operation_and_overall():
    direct = synthetic.report({"search": synthetic.latencies(1, 2000, median_ms=5.0)}, duration_s=10, seed=1)
    gateway = synthetic.report(
        {"search": synthetic.latencies(1, 1800, median_ms=5.0, shift_ms=3.0)}, duration_s=10, seed=1
    )
    result = overhead(gateway, direct)
    op = result["operations"]["search"]
    assert op["p50_ms"]["added"] == pytest.approx(3.0, abs=0.3)
    assert op["p50_ms"]["added"] == pytest.approx(op["p50_ms"]["gateway"] - op["p50_ms"]["direct"], abs=1e-3)
    assert op["throughput"] == {"gateway": 180.0, "direct": 200.0, "ratio": 0.9}
    assert result["overall"]["p95_ms"]["added"] > 2.0
    assert set(result["overall"]) == {"p50_ms", "p95_ms", "p99_ms", "throughput"}


# --------------------------------------------------------------------------- knee
def _stress_timeline(rates, seconds_per_step=5, *, slow_from=None, fail_from=None, with_hist=False):
    """Each step: ``rate`` requests a second; p99 80 ms until ``slow_from`` (then 400 ms); errors
    1 % from ``fail_from`` on."""
    timeline, t = [], 0
    for rate in rates:
        for _ in range(seconds_per_step):
            p99 = 400.0 if slow_from is not None and rate >= slow_from else 80.0
            errors = int(rate * 0.05) if fail_from is not None and rate >= fail_from else 0
            second = {"t": t, "count": rate, "errors": errors, "p50": 20.0, "p95": p99 * 0.8, "p99": p99}
            if with_hist:
                histogram = hdr.new_histogram()
                for value in np.linspace(10_000, p99 * 1000, rate):
                    hdr.record_us(histogram, value)
                second["hist"] = hdr.encode(histogram)
            timeline.append(second)
            t += 1
    return {"timeline": timeline, "duration_s": float(t)}


STEPS = {
    "model": "open",
    "rate": 10,
    "shape": "step",
    "steps": [[0, 10], [5, 20], [10, 30], [15, 40], [20, 50]],
}


def test_knee_of_a_step_run_broken_by_p99():
    report = _stress_timeline([10, 20, 30, 40, 50], slow_from=40)
    result = knee(report, {"p99_ms": 250, "error_rate": 0.01}, arrival=STEPS)
    assert result["knee_rate"] == 30 and result["broke_at_rate"] == 40
    assert result["broken_by"] == ["p99"] and result["sustained"] is False
    assert [p["offered"] for p in result["points"]] == [10, 20, 30, 40, 50]
    assert [p["met"] for p in result["points"]] == [True, True, True, False, False]
    assert result["offered_from"] == "profile" and result["knee_window"] == [10, 15]


def test_knee_broken_by_errors_with_exact_window_histograms():
    report = _stress_timeline([10, 20, 30, 40, 50], fail_from=30, with_hist=True)
    result = knee(report, ["p99 <= 250 ms", "error_rate <= 1 %"], arrival=STEPS)
    assert (
        result["knee_rate"] == 20 and result["broke_at_rate"] == 30 and result["broken_by"] == ["error_rate"]
    )
    assert result["points"][0]["p99"] == pytest.approx(80.0, rel=0.01)


def test_knee_with_the_profiles_part_slo_on_p95():
    report = _stress_timeline([10, 20, 30, 40, 50], slow_from=30)  # p95 = 0.8 · p99: 64 → 320 ms
    slo = [
        {
            "metric": "error_rate",
            "op": "<=",
            "value": 0.01,
            "unit": "ratio",
            "operation": None,
            "text": "error_rate <= 1%",
        },
        {
            "metric": "p95",
            "op": "<=",
            "value": 300.0,
            "unit": "ms",
            "operation": None,
            "text": "p95 <= 300ms",
        },
    ]
    result = knee(report, slo, arrival=STEPS)
    assert result["knee_rate"] == 20 and result["broke_at_rate"] == 30 and result["broken_by"] == ["p95"]
    assert result["slo"] == {"error_rate": 0.01, "latency_ms": {"p95": 300.0}}
    with pytest.raises(ThresholdError):
        knee(report, ["throughput >= 5/s"])


def test_knee_of_a_ramp_and_of_a_run_that_never_broke():
    ramp = {"model": "open", "rate": 10, "shape": "ramp", "rate_to": 60}
    report = _stress_timeline([10, 20, 30, 40, 50, 60], slow_from=50)
    result = knee(report, {"p99": 250}, arrival=ramp, window_s=5)
    assert result["knee_rate"] == pytest.approx(offered_rate(ramp, 17.5, 30.0), abs=1.0)
    assert result["knee_rate"] < result["broke_at_rate"]
    calm = knee(_stress_timeline([10, 20]), {"p99": 250}, window_s=5)  # no arrival: the achieved rate
    assert calm["sustained"] is True and calm["broke_at_rate"] is None and calm["knee_rate"] == 20
    assert calm["offered_from"] == "achieved"
    already = knee(_stress_timeline([10, 20], slow_from=10), {"p99": 250}, window_s=5)
    assert already["knee_rate"] is None and already["broke_at_rate"] == 10


def test_offered_rate_shapes():
    assert offered_rate({"model": "closed", "users": 3}, 1, 10) is None
    assert offered_rate({"model": "open", "rate": 5}, 3, 10) == 5
    spike = {
        "model": "open",
        "rate": 5,
        "shape": "spike",
        "spike_rate": 50,
        "spike_at_s": 4,
        "spike_for_s": 2,
    }
    assert [offered_rate(spike, t, 10) for t in (3.5, 4.5, 5.5, 6.5)] == [5, 50, 50, 5]
