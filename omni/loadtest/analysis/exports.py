"""Exports of a run: JSON (the run, its spec without credentials, the report and the comparison)
and CSV (one row per phase total, operation and organization, with the percentiles)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import re2

from omni.loadtest.models import LoadRun

# Keys of a spec whose values are credentials or carry them: dropped from every export.
SECRET_KEY = re2.compile(
    r"(?i)(authorization|api[_-]?key|token|secret|password|passwd|cookie|headers|credential)"
)
CSV_COLUMNS = (
    "phase",
    "scope",
    "name",
    "requests",
    "errors",
    "error_rate",
    "throughput",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "p99_9_ms",
    "max_ms",
    "mean_ms",
    "verdict",
    "p95_change_pct",
)


def without_credentials(value: Any) -> Any:
    """A copy of ``value`` without any key that names a credential (at any depth)."""
    if isinstance(value, dict):
        return {k: without_credentials(v) for k, v in value.items() if not SECRET_KEY.search(str(k))}
    if isinstance(value, list):
        return [without_credentials(v) for v in value]
    return value


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def run_document(run: LoadRun) -> dict[str, Any]:
    baseline = run.comparison.get("baseline") if run.comparison else None
    return {
        "run": {
            "id": str(run.uuid),
            "organization": run.organization.slug,
            "profile": run.profile_name,
            "target": run.target,
            "status": run.status,
            "verdict": run.verdict,
            "trigger": run.trigger,
            "raised_limits": run.raised_limits,
            "shards": run.shards_total,
            "error": run.error,
            "created_at": _iso(run.created_at),
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
        },
        "spec": without_credentials(run.spec or {}),
        "report": without_credentials(run.report or {}),
        "baseline": baseline,
        "comparison": run.comparison or {},
    }


def report_json(run: LoadRun) -> str:
    return json.dumps(run_document(run), indent=2, sort_keys=True, ensure_ascii=False)


def _cell(value: Any) -> Any:
    """Spreadsheet-safe: text that a spreadsheet would run as a formula is quoted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _errors(section: dict[str, Any]) -> int:
    errors = section.get("errors") or 0
    return sum(errors.values()) if isinstance(errors, dict) else int(errors)


def _row(
    phase: str, scope: str, name: str, section: dict[str, Any], comparison: dict[str, Any] | None
) -> list:
    latency = section.get("latency_ms") or {}
    requests = section.get("count", section.get("requests", 0)) or 0
    errors = _errors(section)
    error_rate = section.get("error_rate")
    if error_rate is None:
        error_rate = errors / requests if requests else 0.0
    comparison = comparison or {}
    return [
        phase,
        scope,
        name,
        requests,
        errors,
        error_rate,
        section.get("throughput"),
        latency.get("p50"),
        latency.get("p90"),
        latency.get("p95"),
        latency.get("p99"),
        latency.get("p99_9"),
        latency.get("max"),
        latency.get("mean"),
        comparison.get("verdict"),
        ((comparison.get("latency_ms") or {}).get("p95") or {}).get("change_pct"),
    ]


def report_csv(run: LoadRun) -> str:
    """CSV text: a header, then per phase ("main", then "direct" when measured) the run total, each
    operation and each organization."""
    report = run.report or {}
    compared = (run.comparison or {}).get("operations") or {}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    phases = [("main", report, compared)]
    if report.get("direct"):
        phases.append(("direct", report["direct"], {}))
    for phase, section, comparisons in phases:
        run_verdict = {"verdict": (run.comparison or {}).get("verdict")} if phase == "main" else None
        writer.writerow([_cell(v) for v in _row(phase, "run", run.profile_name, section, run_verdict)])
        for label, op in sorted((section.get("operations") or {}).items()):
            writer.writerow([_cell(v) for v in _row(phase, "operation", label, op, comparisons.get(label))])
        for slug, org in sorted((section.get("orgs") or {}).items()):
            writer.writerow([_cell(v) for v in _row(phase, "organization", slug, org, None)])
    return buffer.getvalue()
