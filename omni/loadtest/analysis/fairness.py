"""Multi-tenant load: did every organization get its share, and did a noisy one hurt the others?

Each organization's throughput is divided by the share its weight asked for (``x_i = share_i /
weight_share_i``: 1.0 = exactly its share). Jain's fairness index of those values,
``(Σx)² / (n·Σx²)``, is 1.0 when every organization got its share and 1/n when one took
everything.

A "noisy neighbour" run gives one organization at least ``NOISY_FACTOR`` times the median weight of
the others. The quiet organizations count as unharmed when, each of them:

* has an error rate at most ``error_bound`` (default 1 %) above its reference (0 without one) and
  no rate-limit refusals (``http_429``) of its own;
* with a reference report (the same organizations measured without the noise, e.g. the baseline
  of the profile), has a p99 at most ``p99_bound_pct`` % (default 50 %) plus the noise floor above
  its reference p99. Without a reference the p99 is reported but not judged.
"""

from __future__ import annotations

import statistics
from typing import Any

from omni.loadtest.analysis.compare import noise_floor_ms

NOISY_FACTOR = 5.0
DEFAULT_P99_BOUND_PCT = 50.0
DEFAULT_ERROR_BOUND = 0.01


def jain_index(values: list[float]) -> float | None:
    """Jain's fairness index of non-negative ``values`` (None for none or all zero)."""
    if not values:
        return None
    total = sum(values)
    squares = sum(v * v for v in values)
    if squares == 0:
        return None
    return total * total / (len(values) * squares)


def _errors(section: dict[str, Any]) -> tuple[int, dict[str, int]]:
    """(errors, by kind) of a report section: the merge gives ``errors`` as a count and
    ``errors_by_kind``; a shard's counts give ``errors`` by kind."""
    errors = section.get("errors") or {}
    if isinstance(errors, dict):
        return sum(errors.values()), errors
    return int(errors), dict(section.get("errors_by_kind") or {})


def _noisy(weights: dict[str, float]) -> list[str]:
    if len(weights) < 2:
        return []
    noisy = []
    for slug, weight in weights.items():
        others = [w for s, w in weights.items() if s != slug]
        if weight >= NOISY_FACTOR * statistics.median(others):
            noisy.append(slug)
    return noisy


def fairness(
    report: dict[str, Any],
    weights: dict[str, float] | None = None,
    *,
    reference: dict[str, Any] | None = None,
    p99_bound_pct: float = DEFAULT_P99_BOUND_PCT,
    error_bound: float = DEFAULT_ERROR_BOUND,
) -> dict[str, Any]:
    """Per organization: throughput, share against weight, p99 and error rate; Jain's index; and
    for a noisy-neighbour run whether the quiet organizations stayed within their bounds.
    ``weights``: slug → weight (missing: equal weights)."""
    orgs = report.get("orgs") or {}
    weights = {slug: float((weights or {}).get(slug, 1.0)) for slug in orgs}
    total_weight = sum(weights.values()) or 1.0
    total_throughput = sum(float(section.get("throughput") or 0.0) for section in orgs.values())
    rows: dict[str, Any] = {}
    normalised: list[float] = []
    for slug, section in sorted(orgs.items()):
        throughput = float(section.get("throughput") or 0.0)
        count = int(section.get("count") or 0)
        errors, kinds = _errors(section)
        share = throughput / total_throughput if total_throughput else 0.0
        expected = weights[slug] / total_weight
        ratio = share / expected if expected else 0.0
        normalised.append(ratio)
        rows[slug] = {
            "weight": weights[slug],
            "throughput": throughput,
            "requests": count,
            "share": round(share, 4),
            "expected_share": round(expected, 4),
            "share_ratio": round(ratio, 4),
            "p50": (section.get("latency_ms") or {}).get("p50"),
            "p99": (section.get("latency_ms") or {}).get("p99"),
            "error_rate": (
                section.get("error_rate")
                if section.get("error_rate") is not None
                else (errors / count if count else 0.0)
            ),
            "rate_limited": int(kinds.get("http_429", 0)),
        }
    index = jain_index(normalised)
    out: dict[str, Any] = {
        "organizations": rows,
        "jain_index": None if index is None else round(index, 4),
        "worst_possible": round(1.0 / len(rows), 4) if rows else None,
    }
    noisy = _noisy(weights)
    if noisy:
        out["noisy_neighbour"] = _isolation(rows, noisy, reference, p99_bound_pct, error_bound)
    return out


def _isolation(
    rows: dict[str, Any],
    noisy: list[str],
    reference: dict[str, Any] | None,
    p99_bound_pct: float,
    error_bound: float,
) -> dict[str, Any]:
    floor = noise_floor_ms()
    ref_orgs = (reference or {}).get("orgs") or {}
    quiet: dict[str, Any] = {}
    for slug, row in rows.items():
        if slug in noisy:
            continue
        ref = ref_orgs.get(slug)
        ref_p99 = (ref.get("latency_ms") or {}).get("p99") if ref else None
        ref_errors = 0.0
        if ref:
            count = int(ref.get("count") or 0)
            ref_errors = (
                float(ref["error_rate"])
                if ref.get("error_rate") is not None
                else (_errors(ref)[0] / count if count else 0.0)
            )
        errors_ok = (row["error_rate"] or 0.0) <= ref_errors + error_bound and not row["rate_limited"]
        p99_ok: bool | None = None
        p99_limit = None
        if ref_p99 is not None and row["p99"] is not None:
            p99_limit = round(ref_p99 * (1 + p99_bound_pct / 100.0) + floor, 3)
            p99_ok = row["p99"] <= p99_limit
        quiet[slug] = {
            "p99": row["p99"],
            "reference_p99": ref_p99,
            "p99_limit": p99_limit,
            "p99_ok": p99_ok,
            "error_rate": row["error_rate"],
            "reference_error_rate": ref_errors if ref else None,
            "errors_ok": errors_ok,
            "ok": errors_ok and p99_ok is not False,
        }
    return {
        "noisy": noisy,
        "noisy_rate_limited": {slug: rows[slug]["rate_limited"] for slug in noisy},
        "quiet": quiet,
        "isolated": all(item["ok"] for item in quiet.values()),
        "p99_judged": reference is not None,
        "bounds": {"p99_pct": p99_bound_pct, "p99_floor_ms": floor, "error_rate": error_bound},
    }
