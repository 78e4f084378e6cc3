"""Synthetic run reports for the analysis tests: latencies drawn from seeded random distributions,
recorded into real HDR histograms (``omni.loadtest.hdr``), with a reservoir of samples and a
per-second timeline, in the shape of ``contracts.Report``."""

from __future__ import annotations

from typing import Any

import numpy as np

from omni.loadtest import hdr

SAMPLES = 2000


def latencies(
    seed: int, n: int = 3000, *, median_ms: float = 20.0, sigma: float = 0.35, shift_ms: float = 0.0
) -> np.ndarray:
    """``n`` latencies in µs: log-normal around ``median_ms`` plus ``shift_ms`` (a slower server)."""
    generator = np.random.default_rng(seed)
    values = generator.lognormal(np.log(median_ms * 1000.0), sigma, n) + shift_ms * 1000.0
    return values


def summary(histogram: Any, values_us: np.ndarray) -> dict[str, float | int]:
    """``hdr.summary_ms`` with the mean taken from the values (hdrh's mean walks every bucket in
    Python: too slow for hundreds of synthetic reports)."""
    out: dict[str, float | int] = {
        "count": histogram.get_total_count(),
        "min": histogram.get_min_value() / 1000,
        "mean": round(float(np.mean(values_us)) / 1000, 3),
        "max": histogram.get_max_value() / 1000,
    }
    for pct, key in ((50, "p50"), (90, "p90"), (95, "p95"), (99, "p99"), (99.9, "p99_9")):
        out[key] = histogram.get_value_at_percentile(pct) / 1000
    return out


def section(
    values_us: np.ndarray, duration_s: float, *, errors: dict[str, int] | None = None, seed: int = 0
) -> dict[str, Any]:
    histogram = hdr.new_histogram()
    for value in values_us:
        hdr.record_us(histogram, float(value))
    generator = np.random.default_rng(seed + 1_000_003)
    keep = values_us if values_us.size <= SAMPLES else generator.choice(values_us, SAMPLES, replace=False)
    errors = errors or {}
    count = int(values_us.size)
    return {  # the shape of the execution part's merge: errors counted, and by kind
        "count": count,
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "throughput": round(count / duration_s, 3),
        "error_rate": sum(errors.values()) / count if count else 0.0,
        "latency_ms": summary(histogram, values_us),
        "hist": hdr.encode(histogram),
        "samples": [int(v) for v in keep],
    }


def timeline(total: int, duration_s: int, seed: int, *, p99: float = 50.0) -> list[dict[str, Any]]:
    generator = np.random.default_rng(seed + 7)
    per_second = generator.multinomial(total, [1.0 / duration_s] * duration_s)
    return [
        {"t": t, "count": int(c), "errors": 0, "p50": 20.0, "p95": 40.0, "p99": p99}
        for t, c in enumerate(per_second)
    ]


def report(
    operations: dict[str, np.ndarray],
    *,
    duration_s: int = 30,
    orgs: dict[str, np.ndarray] | None = None,
    org_errors: dict[str, dict[str, int]] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """A report of ``operations`` (label → latencies µs) measured over ``duration_s``."""
    everything = np.concatenate(list(operations.values()))
    sections = {
        label: section(values, duration_s, seed=seed + i)
        for i, (label, values) in enumerate(operations.items())
    }
    total = hdr.merge(item["hist"] for item in sections.values())
    out: dict[str, Any] = {
        "requests": int(everything.size),
        "errors": 0,
        "duration_s": float(duration_s),
        "throughput": round(everything.size / duration_s, 3),
        "error_rate": 0.0,
        "latency_ms": summary(total, everything),
        "operations": {
            label: section(values, duration_s, seed=seed + i)
            for i, (label, values) in enumerate(operations.items())
        },
        "orgs": {},
        "timeline": timeline(int(everything.size), duration_s, seed),
        "errors_by_kind": {},
    }
    for slug, values in (orgs or {}).items():
        errors = (org_errors or {}).get(slug, {})
        out["orgs"][slug] = section(values, duration_s, errors=errors, seed=seed)
        del out["orgs"][slug]["samples"]
    return out
