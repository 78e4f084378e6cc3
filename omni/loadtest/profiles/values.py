"""The small languages inside a profile: durations ("30s", "2m") and thresholds ("p95 <= 250ms").

A threshold or SLO string becomes a dict ``{metric, op, value, unit, operation, text}``:

- latency metrics (``p50 p90 p95 p99 p99.9 max mean min``; the metric is the key of
  ``hdr.summary_ms``, so ``p99.9`` becomes ``p99_9``): ``value`` in milliseconds, ``unit`` "ms";
- ``error_rate``: ``value`` a fraction (``0.1%`` -> 0.001), ``unit`` "ratio";
- ``throughput``: ``value`` in requests per second, ``unit`` "rps";
- ``regression``: the largest slowdown allowed against the baseline, a fraction (``10%`` -> 0.1),
  ``unit`` "ratio";

``op`` is one of ``<= < >= >`` and ``operation`` is the label the threshold applies to (None: the
whole run), given as a prefix: ``"calc: p95 <= 50ms"``.
"""

from __future__ import annotations

from typing import Any

import re2

_DURATION_RE = re2.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
LATENCY_METRICS = ("p50", "p90", "p95", "p99", "p99.9", "max", "mean", "min")
OTHER_METRICS = ("error_rate", "throughput", "regression")
METRICS = LATENCY_METRICS + OTHER_METRICS
_THRESHOLD_RE = re2.compile(
    r"^\s*(?:(?P<operation>\S+?)\s*:\s*)?"
    r"(?P<metric>[a-z_][a-z0-9_.]*)\s*(?P<op><=|>=|<|>)\s*"
    r"(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>[a-zµ%/]*)\s*$"
)
_LATENCY_UNITS = {"ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001}


class ValueProblem(ValueError):
    """A value that does not parse; the message says what was expected."""


def parse_duration(value: Any) -> float:
    """Seconds from a number (seconds) or a string such as ``"500ms"``, ``"30s"``, ``"2m"``, ``"1h"``."""
    if isinstance(value, bool):
        raise ValueProblem('expected a duration such as 30, "30s", "2m" or "500ms"')
    if isinstance(value, int | float):
        if value < 0:
            raise ValueProblem("a duration cannot be negative")
        return float(value)
    match = _DURATION_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueProblem(f'{value!r} is not a duration: use seconds (30) or "500ms", "30s", "2m", "1h"')
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def metric_key(metric: str) -> str:
    """The report key of a latency metric: ``p99.9`` -> ``p99_9``."""
    return metric.replace(".", "_")


def parse_threshold(text: str) -> dict[str, Any]:
    """``"calc: p95 <= 50ms"`` -> ``{metric: "p95", op: "<=", value: 50.0, unit: "ms", …}``."""
    match = _THRESHOLD_RE.match(text)
    if match is None:
        raise ValueProblem(
            f'{text!r} is not a threshold: write [operation:] metric op value, e.g. "p95 <= 250ms", '
            '"error_rate <= 0.1%", "throughput >= 100/s", "regression <= 10%"'
        )
    metric, op, unit = match["metric"], match["op"], match["unit"]
    number = float(match["value"])
    if metric in LATENCY_METRICS:
        if unit not in _LATENCY_UNITS:
            raise ValueProblem(f"{text!r}: give the latency with a unit: ms, s or us (e.g. 250ms)")
        value, unit_out = number * _LATENCY_UNITS[unit], "ms"
        metric = metric_key(metric)
    elif metric in ("error_rate", "regression"):
        if unit == "%":
            value = number / 100.0
        elif unit == "":
            value = number
        else:
            raise ValueProblem(f'{text!r}: {metric} is a percentage ("0.1%") or a fraction (0.001)')
        if value > 1:
            raise ValueProblem(f"{text!r}: {metric} cannot be more than 100%")
        if metric == "regression" and op not in ("<=", "<"):
            raise ValueProblem(f"{text!r}: a regression bound is a maximum: use <= or <")
        unit_out = "ratio"
    elif metric == "throughput":
        if unit not in ("/s", "rps", ""):
            raise ValueProblem(f'{text!r}: throughput is in requests per second ("100/s")')
        value, unit_out = number, "rps"
    else:
        raise ValueProblem(f"{text!r}: unknown metric {metric!r} (known: {', '.join(METRICS)})")
    return {
        "metric": metric,
        "op": op,
        "value": value,
        "unit": unit_out,
        "operation": match["operation"],
        "text": text.strip(),
    }
