"""deploy/: the Prometheus rules parse and have the shape Prometheus requires (promtool is not
available here), the Grafana dashboard is a well-formed importable dashboard, and every metric
that either references is exported by /metrics or is one of the rules' own recording rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "omni-rules.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "omni-mcp-gateway.json"
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
}  # fmt: skip
# Series Prometheus makes itself for every target.
BUILTIN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

pytestmark = pytest.mark.django_db


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: label matchers, strings, ranges, grouping clauses,
    functions, keywords, numbers and Grafana variables removed."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\$\w+", "", text)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        name = match.group(0)
        following = text[match.end() :].lstrip()
        if following.startswith("(") or name in PROMQL_WORDS:
            continue  # a function
        if re.fullmatch(r"[0-9.e+-]+", name) or name in {"e", "Inf", "NaN"}:
            continue
        names.add(name)
    return names


def test_metric_names_extraction():
    expr = 'sum by (le, x) (rate(a_bucket{l="v", m=~"$var"}[5m])) / clamp_min(b_total, 1e-9) > 0.5'
    assert metric_names(expr) == {"a_bucket", "b_total"}


def rules() -> dict:
    return yaml.safe_load(RULES.read_text())


def test_rules_structure():
    data = rules()
    assert set(data) == {"groups"}
    names = set()
    for group in data["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"}
        assert group["name"] not in names, "group names must be unique"
        names.add(group["name"])
        if "interval" in group:
            assert DURATION.match(group["interval"])
        assert group["rules"], group["name"]
        for rule in group["rules"]:
            assert ("record" in rule) != ("alert" in rule), rule
            assert isinstance(rule["expr"], str) and rule["expr"].strip()
            assert rule["expr"].count("(") == rule["expr"].count(")"), rule["expr"]
            if "record" in rule:
                assert set(rule) <= {"record", "expr", "labels"}
                assert re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", rule["record"])
            else:
                assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
                assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", rule["alert"])
                assert DURATION.match(rule.get("for", "0s"))
                assert rule["labels"]["severity"] in {"critical", "warning", "info"}
                assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_dashboard_structure():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 30
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    titles = " | ".join(p["title"] for p in dashboard["panels"])
    for topic in ("Requests/s", "Errors", "p50", "status", "Sessions", "Streams", "Refusals", "queue depth"):
        assert topic.lower() in titles.lower(), topic
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]


def exported(client) -> set[str]:
    """Sample names and family names that /metrics exports (the status part's collector included
    when that part is installed)."""
    from omni.gateway.observe import RequestRecord, emit

    # One observation of each kind, so that every labelled family has samples.
    emit(RequestRecord(org_id=1, org_slug="x", api_key_id=None, method="tools/call", target="t", server="s"))
    emit(RequestRecord(org_id=1, org_slug="x", api_key_id=None, method="ping", outcome="refused",
                       error_type="rate_limited", detail="mcp_per_key_per_minute"))  # fmt: skip
    from omni.monitoring.metrics import instruments

    instruments.celery_tasks.labels("t", "success").inc(0)
    instruments.celery_task_duration.labels("t").observe(0)
    client.get("/healthz")
    body = client.get("/metrics").content.decode()
    names = set()
    for family in text_string_to_metric_families(body):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


STATUS_FAMILIES = {
    "omni_downstream_up",
    "omni_downstream_state",
    "omni_downstream_probe_latency_seconds",
    "omni_downstream_breaker_open",
}


def test_every_referenced_metric_is_exported_or_recorded(client):
    data = rules()
    recorded = {rule["record"] for group in data["groups"] for rule in group["rules"] if "record" in rule}
    expressions = [rule["expr"] for group in data["groups"] for rule in group["rules"]]
    dashboard = json.loads(DASHBOARD.read_text())
    expressions += [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    # label_values(metric, label): the second argument is a label, not a metric
    queries = [v["query"]["query"] for v in dashboard["templating"]["list"]]
    expressions += [re.sub(r"label_values\(([^,]+),\s*\w+\)", r"\1", q) for q in queries]
    referenced = set().union(*(metric_names(e) for e in expressions))
    available = exported(client) | recorded | BUILTIN
    try:
        import omni.monitoring.status.metrics  # noqa: F401 (the status part registers these)
    except ImportError:
        # Not on this branch: the downstream status families are the status part's (mstatus); the
        # names here are the ones its collector yields (omni/monitoring/status/metrics.py).
        available |= STATUS_FAMILIES
    missing = referenced - available
    assert not missing, f"referenced but not exported: {sorted(missing)}"
    assert "mcp_server_operation_duration_seconds_bucket" in referenced
    assert STATUS_FAMILIES & referenced
