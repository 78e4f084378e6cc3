"""The knee of a stress run: the highest offered rate whose window still met the SLO.

The per-second timeline of the run is cut into windows (one per step of a ``step`` arrival, else
``window_s`` seconds each). For each window: the offered rate (from the profile's arrival model at
those seconds; the achieved rate when the model is closed or unknown), the achieved rate, the error
rate (errors ÷ requests) and the p50, p95 and p99 (exact when the seconds carry HDR histograms,
else the request-weighted mean of the seconds' values). Walking the windows in time order, the
first window that breaks the SLO gives the rate where it broke; the knee is the highest offered
rate of the windows before it that met it.
"""

from __future__ import annotations

from typing import Any

from omni.loadtest import hdr
from omni.loadtest.analysis.thresholds import ThresholdError, normalise

TIMELINE_PERCENTILES = ("p50", "p95", "p99")  # what each second of a merged report carries
_LATENCY_FACTORS = {"ms": 1.0, "": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001}


def read_slo(slo: dict[str, Any] | list[Any] | None) -> dict[str, Any]:
    """``{"error_rate": fraction, "latency_ms": {"p99": ms, …}}`` from the profile's ``slo`` (a list
    of thresholds as the profiles part parses them, or their text: ``p99 <= 500ms``,
    ``error_rate <= 1%``) or a dict (``error_rate`` as a fraction, ``error_rate_pct``, ``p99_ms``,
    ``p95_ms``, ``p50_ms``). Latency bounds are on the timeline's p50, p95 or p99."""
    out: dict[str, Any] = {"latency_ms": {}}
    if isinstance(slo, list):
        for item in slo:
            threshold = normalise(item)
            metric, unit = threshold["metric"], threshold["unit"]
            if metric in TIMELINE_PERCENTILES:
                if unit not in _LATENCY_FACTORS:
                    raise ThresholdError(f"unit {unit!r} does not fit {metric}")
                out["latency_ms"][metric] = threshold["value"] * _LATENCY_FACTORS[unit]
            elif metric == "error_rate":
                out["error_rate"] = threshold["value"] / (100.0 if unit == "%" else 1.0)
            else:
                raise ThresholdError(
                    f"an SLO of a stress run is about error_rate, p50, p95 or p99, not {metric}"
                )
        return out
    slo = slo or {}
    if slo.get("error_rate") is not None:
        out["error_rate"] = float(slo["error_rate"])
    if slo.get("error_rate_pct") is not None:
        out["error_rate"] = float(slo["error_rate_pct"]) / 100.0
    for metric in TIMELINE_PERCENTILES:
        for key in (f"{metric}_ms", metric):
            if slo.get(key) is not None:
                out["latency_ms"][metric] = float(slo[key])
    return out


def offered_rate(arrival: dict[str, Any] | None, t: float, duration_s: float) -> float | None:
    """Requests/s the arrival model offers at ``t`` seconds into the measured window (None for a
    closed model)."""
    if not arrival or arrival.get("model") != "open":
        return None
    rate = float(arrival.get("rate") or 0.0)
    shape = arrival.get("shape") or "constant"
    if shape == "ramp":
        end = float(arrival.get("rate_to", rate))
        fraction = min(max(t / duration_s, 0.0), 1.0) if duration_s else 1.0
        return rate + (end - rate) * fraction
    if shape == "step":
        current = rate
        for start, step_rate in sorted(arrival.get("steps") or []):
            if t >= start:
                current = float(step_rate)
        return current
    if shape == "spike":
        at = float(arrival.get("spike_at_s") or 0.0)
        if at <= t < at + float(arrival.get("spike_for_s") or 0.0):
            return float(arrival.get("spike_rate") or rate)
    return rate


def _windows(
    timeline: list[dict[str, Any]], arrival: dict[str, Any] | None, window_s: int
) -> list[list[dict]]:
    if arrival and arrival.get("model") == "open" and arrival.get("shape") == "step" and arrival.get("steps"):
        starts = sorted(float(start) for start, _ in arrival["steps"])
        groups: dict[int, list[dict]] = {}
        for second in timeline:
            index = sum(1 for start in starts if second["t"] >= start)
            groups.setdefault(index, []).append(second)
        return [groups[key] for key in sorted(groups)]
    return [timeline[i : i + window_s] for i in range(0, len(timeline), window_s)]


def _point(
    seconds: list[dict[str, Any]], arrival: dict[str, Any] | None, duration_s: float
) -> dict[str, Any]:
    count = sum(int(s.get("count") or 0) for s in seconds)
    errors = sum(int(s.get("errors") or 0) for s in seconds)
    span = len(seconds)
    offered_values = [offered_rate(arrival, s["t"] + 0.5, duration_s) for s in seconds]
    achieved = count / span if span else 0.0
    offered = sum(offered_values) / span if span and all(v is not None for v in offered_values) else achieved
    latency: dict[str, float | None] = {}
    merged = hdr.merge(s["hist"] for s in seconds) if count and all(s.get("hist") for s in seconds) else None
    for metric in TIMELINE_PERCENTILES:
        if merged is not None:
            latency[metric] = merged.get_value_at_percentile(float(metric[1:])) / 1000.0
            continue
        weighted = [(int(s.get("count") or 0), s.get(metric)) for s in seconds if s.get(metric) is not None]
        weight = sum(c for c, _ in weighted)
        latency[metric] = sum(c * v for c, v in weighted) / weight if weight else None
    return {
        "t_from": seconds[0]["t"],
        "t_to": seconds[-1]["t"] + 1,
        "offered": round(offered, 3),
        "achieved": round(achieved, 3),
        "requests": count,
        "errors": errors,
        "error_rate": round(errors / count, 6) if count else None,
        **{metric: None if value is None else round(value, 3) for metric, value in latency.items()},
    }


def knee(
    report: dict[str, Any],
    slo: dict[str, Any] | list[Any] | None,
    *,
    arrival: dict[str, Any] | None = None,
    window_s: int | None = None,
) -> dict[str, Any]:
    """``{"knee_rate", "broke_at_rate", "broken_by", "sustained", "points", "slo", "offered_from"}``:
    ``knee_rate`` is None when the first window already broke the SLO; ``broke_at_rate`` None (and
    ``sustained`` True) when no window did."""
    bounds = read_slo(slo)
    timeline = sorted(report.get("timeline") or [], key=lambda s: s["t"])
    duration = float(report.get("duration_s") or len(timeline) or 1)
    size = window_s or max(1, len(timeline) // 10)
    points = [_point(group, arrival, duration) for group in _windows(timeline, arrival, size) if group]
    knee_point: dict[str, Any] | None = None
    broke: dict[str, Any] | None = None
    for point in points:
        broken_by = []
        if not point["requests"]:
            broken_by.append("no_requests")
        if "error_rate" in bounds and (point["error_rate"] or 0.0) > bounds["error_rate"]:
            broken_by.append("error_rate")
        for metric, limit in bounds["latency_ms"].items():
            if point[metric] is not None and point[metric] > limit:
                broken_by.append(metric)
        point["met"] = not broken_by
        point["broken_by"] = broken_by
        if broke is None:
            if broken_by:
                broke = point
            elif knee_point is None or point["offered"] > knee_point["offered"]:
                knee_point = point
    return {
        "knee_rate": knee_point["offered"] if knee_point else None,
        "knee_achieved": knee_point["achieved"] if knee_point else None,
        "knee_window": [knee_point["t_from"], knee_point["t_to"]] if knee_point else None,
        "broke_at_rate": broke["offered"] if broke else None,
        "broken_by": broke["broken_by"] if broke else [],
        "broke_window": [broke["t_from"], broke["t_to"]] if broke else None,
        "sustained": broke is None and bool(points),
        "slo": bounds,
        "offered_from": "profile" if arrival and arrival.get("model") == "open" else "achieved",
        "window_s": size,
        "points": points,
    }
