"""Profile thresholds (``p95 <= 250 ms``, ``error_rate <= 0.1 %``, ``throughput >= 50/s``) checked
against a report.

A threshold is a dict as the profiles part parses it: ``{"metric", "op", "value", "unit",
"operation", "text"}`` (``operation``: a label of the mix, or absent for the whole run; rates and
regression bounds as fractions with unit "ratio", latencies in "ms", throughput in "rps"). The text
form ``"p95 <= 250 ms"`` (optionally ``"search: p95 <= 250 ms"``) is accepted too. ``regression``
thresholds are not checked here: ``compare`` applies them against the baseline.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Any

import re2

LATENCY_METRICS = ("p50", "p90", "p95", "p99", "p99_9", "max", "mean", "min")
METRICS = (*LATENCY_METRICS, "error_rate", "throughput", "regression")
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
    "≤": operator.le,
    "≥": operator.ge,
}
# How many of the report's units (ms for latencies, a fraction for rates, requests/s) one unit is.
LATENCY_UNITS = {"ms": 1.0, "": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001}
RATE_UNITS = {"%": 0.01, "": 1.0, "fraction": 1.0, "ratio": 1.0}
THROUGHPUT_UNITS = {"": 1.0, "/s": 1.0, "rps": 1.0, "req/s": 1.0, "requests/s": 1.0, "/min": 1 / 60}

_TEXT = re2.compile(
    r"(?i)^\s*(?:(?P<operation>[^:]+?)\s*:\s*)?(?P<metric>[a-z0-9_.]+)\s*(?P<op><=|>=|<|>|≤|≥)\s*"
    r"(?P<value>-?[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>[a-zµ/%.]*)\s*$",
)


class ThresholdError(ValueError):
    """A threshold that cannot be read (the profiles part validates them before a run)."""


def normalise(threshold: dict[str, Any] | str) -> dict[str, Any]:
    """``{"metric", "op", "value", "unit", "operation"}`` from either accepted form."""
    if isinstance(threshold, str):
        match = _TEXT.match(threshold)
        if not match:
            raise ThresholdError(f"cannot read the threshold {threshold!r}")
        threshold = {
            "metric": match["metric"],
            "op": match["op"],
            "value": float(match["value"]),
            "unit": match["unit"] or "",
            "operation": (match["operation"] or "").strip() or None,
        }
    metric = str(threshold.get("metric", "")).lower().replace("p99.9", "p99_9")
    op = str(threshold.get("op", "<="))
    if metric not in METRICS:
        raise ThresholdError(f"unknown threshold metric {metric!r}")
    if op not in OPERATORS:
        raise ThresholdError(f"unknown comparison {op!r}")
    try:
        value = float(threshold["value"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ThresholdError(f"threshold {metric} has no numeric value") from exc
    unit = str(threshold.get("unit") or "").strip()
    if metric == "regression" and not unit:
        unit = "%"
    return {
        "metric": metric,
        "op": {"≤": "<=", "≥": ">="}.get(op, op),
        "value": value,
        "unit": unit,
        "operation": threshold.get("operation") or None,
        "text": str(threshold.get("text") or ""),
    }


def describe(threshold: dict[str, Any]) -> str:
    if threshold.get("text"):
        return threshold["text"]
    where = f"{threshold['operation']}: " if threshold.get("operation") else ""
    unit = threshold.get("unit") or ""
    sep = "" if unit in ("%", "") or unit.startswith("/") else " "
    return f"{where}{threshold['metric']} {threshold['op']} {threshold['value']:g}{sep}{unit}"


def _limit_in_report_units(threshold: dict[str, Any]) -> float:
    metric, unit, value = threshold["metric"], threshold["unit"], threshold["value"]
    table = LATENCY_UNITS if metric in LATENCY_METRICS else RATE_UNITS
    if metric == "throughput":
        table = THROUGHPUT_UNITS
    if unit not in table:
        raise ThresholdError(f"unit {unit!r} does not fit {metric}")
    return value * table[unit]


def measured(report: dict[str, Any], metric: str, operation: str | None) -> float | None:
    """The report's value of ``metric`` (ms, a fraction, or requests/s) for the run or one operation."""
    section: dict[str, Any] | None = report
    if operation:
        section = (report.get("operations") or {}).get(operation)
    if not section:
        return None
    if metric in LATENCY_METRICS:
        value = (section.get("latency_ms") or {}).get(metric)
    elif metric == "error_rate":
        value = section.get("error_rate")
        if value is None and section.get("count", section.get("requests")):
            count = section.get("count", section.get("requests")) or 0
            errors = section.get("errors")
            errors = sum(errors.values()) if isinstance(errors, dict) else int(errors or 0)
            value = errors / count if count else None
    else:
        value = section.get("throughput")
    return None if value is None else float(value)


def check_thresholds(report: dict[str, Any], thresholds: Iterable[dict[str, Any] | str] | None) -> list[dict]:
    """One row per threshold (regression ones excepted): ``{threshold, metric, operation, value,
    limit, unit, passed}``; ``value`` and ``limit`` in the threshold's own unit. A metric the report
    lacks (an operation that never ran) does not pass."""
    rows: list[dict[str, Any]] = []
    for raw in thresholds or ():
        threshold = normalise(raw)
        if threshold["metric"] == "regression":
            continue
        limit = _limit_in_report_units(threshold)
        value = measured(report, threshold["metric"], threshold["operation"])
        scale = limit / threshold["value"] if threshold["value"] else 1.0
        passed = value is not None and OPERATORS[threshold["op"]](value, limit)
        shown = None
        if value is not None:
            shown = round(value / scale, 6) if scale else value
        rows.append(
            {
                "threshold": describe(threshold),
                "metric": threshold["metric"],
                "op": threshold["op"],
                "operation": threshold["operation"],
                "value": shown,
                "limit": threshold["value"],
                "unit": threshold["unit"],
                "passed": bool(passed),
            }
        )
    return rows


def regression_limits(
    thresholds: Iterable[dict[str, Any] | str] | None,
) -> dict[str | None, dict[str, float]]:
    """The ``regression`` thresholds: by operation (None: every operation) ``{"pct": …}`` for a
    relative bound (``regression <= 10 %``) and/or ``{"ms": …}`` for an absolute one."""
    limits: dict[str | None, dict[str, float]] = {}
    for raw in thresholds or ():
        threshold = normalise(raw)
        if threshold["metric"] != "regression":
            continue
        entry = limits.setdefault(threshold["operation"], {})
        if threshold["unit"] == "%":
            entry["pct"] = threshold["value"]
        elif threshold["unit"] in ("ratio", "fraction"):
            entry["pct"] = threshold["value"] * 100.0
        elif threshold["unit"] in LATENCY_UNITS:
            entry["ms"] = threshold["value"] * LATENCY_UNITS[threshold["unit"]]
        else:
            raise ThresholdError(f"unit {threshold['unit']!r} does not fit a regression bound")
    return limits
