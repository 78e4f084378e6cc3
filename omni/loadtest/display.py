"""What the pages show of a run's report (``contracts.Report``) and of the analysis results.

Plain functions from JSON documents to rows for the templates. The shapes of the analysis results
(comparison, fairness, overhead, knee, thresholds) are read defensively: a key that is missing
shows as "—", an unexpected value is shown as it is, never a 500.
"""

from __future__ import annotations

from typing import Any

PERCENTILES = ("p50", "p90", "p95", "p99", "p99_9", "max")
PERCENTILE_LABELS = {"p99_9": "p99.9"}
TREND_LIMIT = 50


def _errors(value: Any) -> int:
    if isinstance(value, dict):
        return sum(int(v or 0) for v in value.values() if isinstance(v, int | float))
    return int(value or 0) if isinstance(value, int | float) else 0


def _row(name: str, item: dict[str, Any]) -> dict[str, Any]:
    latency = item.get("latency_ms") or {}
    count = int(item.get("count") or 0)
    errors = _errors(item.get("errors"))
    rate = item.get("error_rate")
    if rate is None:
        rate = errors / count if count else 0.0
    return {
        "name": name,
        "count": count,
        "errors": errors,
        "throughput": item.get("throughput"),
        "error_pct": round(100 * float(rate), 3),
        "latency": [latency.get(key) for key in PERCENTILES],
    }


def percentile_headers() -> list[str]:
    return [PERCENTILE_LABELS.get(key, key) for key in PERCENTILES]


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The run's totals: requests, errors, throughput, error rate and the overall percentiles."""
    latency = report.get("latency_ms") or {}
    return {
        "requests": report.get("requests", 0),
        "errors": report.get("errors", 0),
        "duration_s": report.get("duration_s"),
        "throughput": report.get("throughput"),
        "error_pct": round(100 * float(report.get("error_rate") or 0), 3),
        "latency": [(PERCENTILE_LABELS.get(k, k), latency.get(k)) for k in PERCENTILES],
        "p95": latency.get("p95"),
    }


def operation_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [_row(label, item) for label, item in sorted((report.get("operations") or {}).items())]


def org_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [_row(slug, item) for slug, item in sorted((report.get("orgs") or {}).items())]


def error_rows(report: dict[str, Any]) -> list[tuple[str, int]]:
    kinds = report.get("errors_by_kind") or {}
    return sorted(((str(k), int(v or 0)) for k, v in kinds.items()), key=lambda kv: (-kv[1], kv[0]))


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def describe(document: Any) -> dict[str, Any]:
    """A generic view of an analysis result: its scalar fields as properties, each mapping of
    mappings (or list of mappings) as a table whose columns are the union of their scalar keys."""
    props: list[tuple[str, Any]] = []
    tables: list[dict[str, Any]] = []
    if not isinstance(document, dict):
        return {"props": [("value", document)] if document not in (None, {}, []) else [], "tables": []}
    for key, value in document.items():
        if _scalar(value):
            props.append((str(key), value))
        elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            tables.append(_table(str(key), [{"": name, **row} for name, row in value.items()]))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.append(_table(str(key), value))
        elif isinstance(value, dict):
            props.extend((f"{key}.{k}", v) for k, v in value.items() if _scalar(v))
        elif isinstance(value, list) and all(_scalar(v) for v in value):
            props.append((str(key), ", ".join(str(v) for v in value)))
    return {"props": props, "tables": tables}


def _cell(value: Any) -> Any:
    if _scalar(value):
        return value
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items() if _scalar(v))
    return str(value)


def _table(title: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    return {
        "title": title,
        "columns": columns,
        "rows": [[_cell(row.get(c)) for c in columns] for row in rows],
    }


def threshold_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each threshold check with a pass/fail flag (``passed`` or ``ok`` in analysis's result)."""
    rows = []
    for item in report.get("thresholds") or []:
        if not isinstance(item, dict):
            continue
        passed = item.get("passed", item.get("ok"))
        rows.append(
            {
                "name": item.get("threshold") or item.get("name") or item.get("metric") or "",
                "operation": item.get("operation") or item.get("scope") or "",
                "value": item.get("value", item.get("actual")),
                "limit": item.get("limit", item.get("expected")),
                "unit": item.get("unit") or "",
                "passed": passed,
                "message": item.get("message") or "",
            }
        )
    return rows


COMPARED_METRICS = ("throughput", "p50", "p95", "p99")


def _change(value: Any) -> dict[str, Any] | None:
    """One metric's change: {base, current, pct, verdict} from the comparison's entry."""
    if not isinstance(value, dict):
        return None if value is None else {"base": None, "current": value, "pct": None, "verdict": ""}
    base = value.get("baseline", value.get("base"))
    current = value.get("current", value.get("new", value.get("value")))
    pct = value.get("change_pct", value.get("delta_pct", value.get("change")))
    if pct is None and isinstance(base, int | float) and isinstance(current, int | float) and base:
        pct = 100.0 * (current - base) / base
    return {
        "base": base,
        "current": current,
        "pct": round(pct, 1) if isinstance(pct, int | float) else pct,
        "verdict": value.get("verdict", ""),
    }


def comparison_view(comparison: dict[str, Any]) -> dict[str, Any] | None:
    """The comparison with the baseline: overall verdict and per-operation changes."""
    if not comparison or not ("verdict" in comparison or "operations" in comparison):
        return None  # nothing compared (yet): e.g. only the baseline asked for before the finish
    operations = comparison.get("operations") or {}
    if isinstance(operations, list):
        operations = {str(o.get("label") or o.get("operation") or i): o for i, o in enumerate(operations)}
    rows = []
    for label, item in sorted(operations.items()):
        if not isinstance(item, dict):
            continue
        latency = item.get("latency_ms") if isinstance(item.get("latency_ms"), dict) else {}
        effect = item.get("effect_size", item.get("effect"))
        if isinstance(effect, dict):
            delta = effect.get("cliffs_delta")
            effect = f"{delta} ({effect.get('magnitude', '')})" if delta is not None else _cell(effect)
        test = item.get("mann_whitney") if isinstance(item.get("mann_whitney"), dict) else {}
        p_value = test.get("p_value", item.get("p_value", item.get("pvalue")))
        rows.append(
            {
                "label": label,
                "verdict": item.get("verdict", ""),
                "effect": effect,
                "p_value": f"{p_value:.3g}" if isinstance(p_value, float) else p_value,
                "metrics": [
                    _change(
                        item.get(metric) if metric == "throughput" else latency.get(metric, item.get(metric))
                    )
                    for metric in COMPARED_METRICS
                ],
                "reasons": [str(r) for r in item.get("reasons") or []],
            }
        )
    rest = {k: v for k, v in comparison.items() if k not in ("operations", "verdict")}
    return {
        "verdict": comparison.get("verdict", ""),
        "baseline": comparison.get("baseline") or comparison.get("baseline_run") or "",
        "metrics": COMPARED_METRICS,
        "rows": rows,
        "extra": describe(rest),
    }


def verdict_css(verdict: str) -> str:
    return {
        "passed": "badge-ok",
        "faster": "badge-ok",
        "same": "",
        "regressed": "badge-danger",
        "slower": "badge-danger",
        "thresholds": "badge-warn",
    }.get(verdict or "", "")


def status_css(status: str) -> str:
    return {
        "completed": "badge-ok",
        "running": "badge-accent",
        "queued": "badge-accent",
        "failed": "badge-danger",
        "cancelled": "badge-warn",
    }.get(status, "")
