"""Shard results merged into one run report (``contracts.Report``).

Histograms merge exactly (``hdr.merge``: the merged histogram is the histogram of the union of the
shards' samples). Shards of one phase run at the same time, maybe on several machines; the measured
window of the merge spans from the earliest shard start to the latest shard end, and each shard's
per-second timeline is placed on that common clock (``round(started - earliest) + t``).

The raw latency samples that the statistics of ``omni.loadtest.analysis`` use are uniform
reservoirs per shard; the merge keeps a uniform sample of the union: each shard contributes in
proportion to how many requests it measured (not to how many samples it kept).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from omni.loadtest import hdr
from omni.loadtest.contracts import Report, ShardResult


def _rate(count: int, duration_s: float) -> float:
    return round(count / duration_s, 3) if duration_s > 0 else 0.0


def _error_total(errors: dict[str, int] | int | None) -> int:
    if isinstance(errors, dict):
        return int(sum(errors.values()))
    return int(errors or 0)


def _window(results: list[ShardResult]) -> tuple[float, float]:
    """(earliest start, window length in seconds) of the shards' measured windows."""
    starts = [float(r.get("started") or 0.0) for r in results]
    if not results:
        return 0.0, 0.0
    if not all(starts):  # no absolute times: the shards ran side by side
        return 0.0, max(float(r.get("duration_s") or 0.0) for r in results)
    earliest = min(starts)
    latest = max(s + float(r.get("duration_s") or 0.0) for s, r in zip(starts, results, strict=True))
    return earliest, latest - earliest


def merge_samples(parts: Iterable[tuple[int, list[int]]], limit: int, seed: int = 0) -> list[int]:
    """A uniform sample (at most ``limit``) of the union of shards, given per shard
    ``(requests measured, uniform reservoir of their latencies)``."""
    parts = [(int(count), list(samples)) for count, samples in parts if count and samples]
    if not parts:
        return []
    total = sum(count for count, _ in parts)
    # The largest size at which every shard can give its proportional share from its reservoir.
    size = min([limit] + [int(len(samples) * total / count) for count, samples in parts])
    rng = random.Random(seed)
    merged: list[int] = []
    for count, samples in parts:
        share = min(len(samples), round(size * count / total))
        merged.extend(rng.sample(samples, share) if share < len(samples) else samples)
    return merged


def _counts_entry(count: int, errors: dict[str, int], hists: list[str], duration_s: float) -> dict[str, Any]:
    histogram = hdr.merge(hists)
    error_count = _error_total(errors)
    return {
        "count": count,
        "errors": error_count,
        "errors_by_kind": dict(sorted(errors.items())),
        "throughput": _rate(count, duration_s),
        "error_rate": round(error_count / count, 6) if count else 0.0,
        "latency_ms": hdr.summary_ms(histogram),
        "hist": hdr.encode(histogram),
    }


def merge(results: list[ShardResult], *, sample_limit: int | None = None) -> Report:
    """Every shard of one phase merged into a ``contracts.Report`` (without the analysis keys)."""
    results = [r for r in results if r]
    if sample_limit is None:
        from django.conf import settings

        sample_limit = int(getattr(settings, "LOADTEST_SAMPLES", 2000))
    earliest, duration_s = _window(results)

    op_counts: dict[str, int] = defaultdict(int)
    op_errors: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    op_hists: dict[str, list[str]] = defaultdict(list)
    op_samples: dict[str, list[tuple[int, list[int]]]] = defaultdict(list)
    org_counts: dict[str, int] = defaultdict(int)
    org_errors: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    org_hists: dict[str, list[str]] = defaultdict(list)
    seconds: dict[int, dict[str, Any]] = {}
    shards: list[dict[str, Any]] = []

    for result in results:
        for label, op in (result.get("operations") or {}).items():
            op_counts[label] += int(op.get("count") or 0)
            for kind, n in (op.get("errors") or {}).items():
                op_errors[label][kind] += int(n)
            op_hists[label].append(op.get("hist") or "")
            op_samples[label].append((int(op.get("count") or 0), op.get("samples") or []))
        for slug, org in (result.get("orgs") or {}).items():
            org_counts[slug] += int(org.get("count") or 0)
            for kind, n in (org.get("errors") or {}).items():
                org_errors[slug][kind] += int(n)
            org_hists[slug].append(org.get("hist") or "")
        offset = round(float(result.get("started") or 0.0) - earliest) if earliest else 0
        for second in result.get("timeline") or []:
            t = int(second["t"]) + offset
            slot = seconds.setdefault(t, {"count": 0, "errors": 0, "hists": []})
            slot["count"] += int(second.get("count") or 0)
            slot["errors"] += _error_total(second.get("errors"))
            slot["hists"].append(second.get("hist") or "")
        generator = dict(result.get("generator") or {})
        shards.append(
            {
                "phase": result.get("phase", "main"),
                "index": result.get("index"),
                "worker": result.get("worker", ""),
                "requests": sum(
                    int(op.get("count") or 0) for op in (result.get("operations") or {}).values()
                ),
                "duration_s": result.get("duration_s", 0.0),
                "cancelled": bool(result.get("cancelled")),
                "cpu_s": generator.get("cpu_s"),
                "lag_ms": generator.get("lag_ms_p99", generator.get("lag_ms")),
                "generator": generator,
            }
        )

    operations: dict[str, dict[str, Any]] = {}
    errors_by_kind: dict[str, int] = defaultdict(int)
    for label in sorted(op_counts):
        entry = _counts_entry(op_counts[label], op_errors[label], op_hists[label], duration_s)
        entry["samples"] = merge_samples(op_samples[label], sample_limit)
        operations[label] = entry
        for kind, n in op_errors[label].items():
            errors_by_kind[kind] += n
    orgs = {
        slug: _counts_entry(org_counts[slug], org_errors[slug], org_hists[slug], duration_s)
        for slug in sorted(org_counts)
    }
    timeline = []
    for t in sorted(seconds):
        slot = seconds[t]
        summary = hdr.summary_ms(hdr.merge(slot["hists"]))
        timeline.append(
            {
                "t": t,
                "count": slot["count"],
                "errors": slot["errors"],
                "p50": summary.get("p50"),
                "p95": summary.get("p95"),
                "p99": summary.get("p99"),
            }
        )
    everything = hdr.merge(h for hists in op_hists.values() for h in hists)
    requests = sum(op_counts.values())
    errors = sum(errors_by_kind.values())
    return Report(
        requests=requests,
        errors=errors,
        duration_s=round(duration_s, 3),
        throughput=_rate(requests, duration_s),
        error_rate=round(errors / requests, 6) if requests else 0.0,
        latency_ms=hdr.summary_ms(everything),
        operations=operations,
        orgs=orgs,
        timeline=timeline,
        errors_by_kind=dict(sorted(errors_by_kind.items())),
        shards=sorted(shards, key=lambda s: (str(s["phase"]), s["index"] or 0)),
        cancelled=any(r.get("cancelled") for r in results),
    )
