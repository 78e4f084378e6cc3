"""A run compared with its baseline: per operation, did latency change, and is the change real?

For each operation present in both reports:

* the Mann-Whitney U test of the two latency samples (does one tend to be larger than the other?)
  with Cliff's delta and the common-language effect size;
* seeded bootstrap confidence intervals (95 %) of the p50 and p95 differences;
* the verdict: "slower" when the test is significant (p < ``ALPHA``) and the confidence interval of
  the p50 or the p95 difference lies entirely above the bound, the bound being the larger of the
  regression threshold (default 10 % of the baseline's percentile, or the profile's
  ``regression <= X %``) and the noise floor (``LOADTEST_NOISE_FLOOR_MS``, default 2 ms, or the
  profile's ``regression <= X ms``); "faster" symmetrically; otherwise "same".

Requiring the whole interval beyond the bound, not just the point estimate, is what keeps two runs
of an unchanged server at "same" (their intervals straddle zero) while a server slowed by tens of
milliseconds is "slower" every time. The run's throughput is compared too, on its per-second
counts. The overall verdict is "regressed" when an operation is slower or the throughput fell
beyond the bound, else "passed".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from django.conf import settings

from omni.loadtest.analysis import stats
from omni.loadtest.analysis.thresholds import regression_limits

ALPHA = 0.01
DEFAULT_REGRESSION_PCT = 10.0
DEFAULT_NOISE_FLOOR_MS = 2.0
TESTED = (50.0, 95.0)  # the percentiles a verdict rests on
SHOWN = ("p50", "p90", "p95", "p99", "p99_9", "max")


def noise_floor_ms() -> float:
    return float(getattr(settings, "LOADTEST_NOISE_FLOOR_MS", DEFAULT_NOISE_FLOOR_MS))


def _bounds(limits: dict[str | None, dict[str, float]], label: str | None) -> tuple[float, float]:
    """(relative bound in %, absolute floor in ms) for an operation."""
    general = limits.get(None, {})
    own = limits.get(label, {}) if label is not None else {}
    pct = own.get("pct", general.get("pct", DEFAULT_REGRESSION_PCT))
    floor = own.get("ms", general.get("ms", noise_floor_ms()))
    return float(pct), float(floor)


def _error_rate(section: dict[str, Any]) -> float | None:
    if section.get("error_rate") is not None:
        return float(section["error_rate"])
    count = section.get("count") or 0
    errors = section.get("errors") or 0
    errors = sum(errors.values()) if isinstance(errors, dict) else errors
    return errors / count if count else None


def compare_operation(
    label: str,
    baseline: dict[str, Any],
    current: dict[str, Any],
    *,
    pct: float,
    floor_ms: float,
    seed: int | None = None,
) -> dict[str, Any]:
    """The comparison of one operation (see the module's docstring)."""
    generator = stats.rng(seed)
    base_us = stats.latencies_us(baseline, generator)
    curr_us = stats.latencies_us(current, generator)
    base_lat, curr_lat = baseline.get("latency_ms") or {}, current.get("latency_ms") or {}
    latency: dict[str, dict[str, Any]] = {}
    for key in SHOWN:
        b, c = base_lat.get(key), curr_lat.get(key)
        latency[key] = {
            "baseline": b,
            "current": c,
            "change_ms": None if b is None or c is None else round(c - b, 3),
            "change_pct": stats.change_pct(b, c),
        }
    out: dict[str, Any] = {
        "verdict": "same",
        "conclusive": False,
        "count": {"baseline": baseline.get("count", 0), "current": current.get("count", 0)},
        "samples": {"baseline": int(base_us.size), "current": int(curr_us.size)},
        "throughput": {
            "baseline": baseline.get("throughput"),
            "current": current.get("throughput"),
            "change_pct": stats.change_pct(baseline.get("throughput"), current.get("throughput")),
        },
        "error_rate": {"baseline": _error_rate(baseline), "current": _error_rate(current)},
        "latency_ms": latency,
        "bound": {"pct": pct, "floor_ms": floor_ms},
        "reasons": [],
    }
    if base_us.size < stats.MIN_SAMPLES or curr_us.size < stats.MIN_SAMPLES:
        out["reasons"].append(
            f"too few latency samples for a test ({base_us.size} and {curr_us.size}, "
            f"at least {stats.MIN_SAMPLES} each)"
        )
        return out
    test = stats.rank_test(base_us, curr_us)
    out["conclusive"] = True
    out["mann_whitney"] = {"u": test.u, "p_value": test.p_value, "alpha": ALPHA}
    out["effect_size"] = {
        "cliffs_delta": round(test.cliffs_delta, 4),
        "magnitude": test.magnitude,
        "common_language": round(test.common_language, 4),
    }
    intervals = stats.bootstrap_differences(base_us, curr_us, TESTED, generator)
    slower: list[str] = []
    faster: list[str] = []
    for pct_point in TESTED:
        key = f"p{pct_point:g}"
        base_q = stats.percentile(base_us, pct_point) / 1000.0
        curr_q = stats.percentile(curr_us, pct_point) / 1000.0
        low, high = (value / 1000.0 for value in intervals[pct_point])
        bound = max(pct / 100.0 * base_q, floor_ms)
        latency[key]["sample_diff_ms"] = round(curr_q - base_q, 3)
        latency[key]["ci_ms"] = [round(low, 3), round(high, 3)]
        latency[key]["bound_ms"] = round(bound, 3)
        if low > bound:
            slower.append(
                f"{key} +{curr_q - base_q:.1f} ms (95 % CI {low:.1f}…{high:.1f} ms, bound {bound:.1f} ms)"
            )
        elif high < -bound:
            faster.append(
                f"{key} {curr_q - base_q:.1f} ms (95 % CI {low:.1f}…{high:.1f} ms, bound {bound:.1f} ms)"
            )
    significant = test.p_value < ALPHA
    if significant and test.cliffs_delta > 0 and slower:
        out["verdict"] = "slower"
        out["reasons"] = slower
    elif significant and test.cliffs_delta < 0 and faster:
        out["verdict"] = "faster"
        out["reasons"] = faster
    elif not significant:
        out["reasons"].append(f"no significant difference (Mann-Whitney p = {test.p_value:.3g})")
    else:
        out["reasons"].append("significant, but within the bound of the p50 and p95 differences")
    return out


def compare_throughput(
    report: dict[str, Any], baseline_report: dict[str, Any], *, pct: float
) -> dict[str, Any]:
    """The run's throughput against the baseline's: Mann-Whitney on the per-second request counts;
    "lower" when significant and down by more than ``pct`` %."""
    base, curr = baseline_report.get("throughput"), report.get("throughput")
    out: dict[str, Any] = {
        "baseline": base,
        "current": curr,
        "change_pct": stats.change_pct(base, curr),
        "verdict": "same",
    }
    base_counts = np.asarray([s.get("count", 0) for s in baseline_report.get("timeline") or []], dtype=float)
    curr_counts = np.asarray([s.get("count", 0) for s in report.get("timeline") or []], dtype=float)
    if base_counts.size < 3 or curr_counts.size < 3 or out["change_pct"] is None:
        return out
    test = stats.rank_test(base_counts, curr_counts)
    out["p_value"] = test.p_value
    if test.p_value < ALPHA and abs(out["change_pct"]) > pct:
        out["verdict"] = "lower" if out["change_pct"] < 0 else "higher"
    return out


def compare(
    report: dict[str, Any],
    baseline_report: dict[str, Any],
    thresholds: Iterable[dict[str, Any] | str] | None = None,
    *,
    seed: int | None = None,
) -> dict[str, Any]:
    """``report`` against ``baseline_report``: ``{"verdict": "regressed"|"passed", "operations":
    {label: {...}}, "throughput": {...}, "regressions": [...], "missing": [...], "added": [...],
    "method": {...}}``. ``thresholds``: the profile's (only ``regression`` ones matter here)."""
    limits = regression_limits(thresholds)
    current_ops = report.get("operations") or {}
    baseline_ops = baseline_report.get("operations") or {}
    operations: dict[str, Any] = {}
    for label in sorted(set(current_ops) & set(baseline_ops)):
        pct, floor = _bounds(limits, label)
        operations[label] = compare_operation(
            label, baseline_ops[label], current_ops[label], pct=pct, floor_ms=floor, seed=seed
        )
    run_pct, run_floor = _bounds(limits, None)
    throughput = compare_throughput(report, baseline_report, pct=run_pct)
    regressions = [label for label, item in operations.items() if item["verdict"] == "slower"]
    regressed = bool(regressions) or throughput["verdict"] == "lower"
    return {
        "verdict": "regressed" if regressed else "passed",
        "operations": operations,
        "throughput": throughput,
        "regressions": regressions,
        "improvements": [label for label, item in operations.items() if item["verdict"] == "faster"],
        "missing": sorted(set(baseline_ops) - set(current_ops)),
        "added": sorted(set(current_ops) - set(baseline_ops)),
        "method": {
            "test": "Mann-Whitney U (two-sided)",
            "alpha": ALPHA,
            "bootstrap_resamples": stats.BOOTSTRAP_RESAMPLES,
            "confidence": stats.CONFIDENCE,
            "seed": stats.SEED if seed is None else seed,
            "regression_pct": run_pct,
            "noise_floor_ms": run_floor,
            "percentiles": [f"p{p:g}" for p in TESTED],
        },
    }
