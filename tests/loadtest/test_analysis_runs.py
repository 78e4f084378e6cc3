"""Analysis of stored runs (PostgreSQL): baselines, the verdict of a run against its baseline,
the regression incident (opened, notified, deduplicated, resolved by the next passing run, audited),
and the exports parsed back."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.utils import timezone

from omni.audit.models import AuditEvent
from omni.loadtest.analysis import (
    BaselineError,
    analyse_run,
    baseline_for,
    default_name,
    report_csv,
    report_json,
    save_baseline,
)
from omni.loadtest.analysis.alerts import active_incident, notify_verdict
from omni.loadtest.models import LoadBaseline, LoadRun
from omni.monitoring.alerts.forms import RuleForm
from omni.monitoring.alerts.services import evaluate_rule
from omni.monitoring.models.alerts import Delivery, Incident, MaintenanceWindow
from tests.factories import LoadRunFactory, World
from tests.loadtest import synthetic
from tests.monitoring.alerts.conftest import email_channel, rule

SPEC = {
    "name": "smoke",
    "mode": "2026-07-28",
    "arrival": {"model": "closed", "users": 2, "think_ms": 0},
    # as the profiles part normalises "error_rate <= 1%"
    "thresholds": [
        {
            "metric": "error_rate",
            "op": "<=",
            "value": 0.01,
            "unit": "ratio",
            "operation": None,
            "text": "error_rate <= 1%",
        }
    ],
    "targets": [
        {"org": "acme", "headers": {"Authorization": "Bearer omni_secret_key"}, "api_key": "omni_sk"}
    ],
}


@pytest.fixture
def world(db) -> World:
    return World()


@pytest.fixture
def eager():
    from omni.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield app
    finally:
        app.conf.task_always_eager = before


def _report(seed: int, *, shift_ms: float = 0.0, orgs=None, errors=None) -> dict:
    operations = {
        "tools/call search": synthetic.latencies(seed, 1500, shift_ms=shift_ms),
        "tools/list": synthetic.latencies(seed + 1, 800, median_ms=5.0, shift_ms=shift_ms),
    }
    return synthetic.report(operations, orgs=orgs, org_errors=errors, seed=seed)


def _run(org, report: dict, *, status=LoadRun.Status.COMPLETED, spec=None, **fields) -> LoadRun:
    return LoadRunFactory(
        organization=org,
        profile_name="smoke",
        spec=spec or SPEC,
        status=status,
        report=report,
        finished_at=timezone.now(),
        **fields,
    )


# --------------------------------------------------------------------------- baselines
def test_save_baseline_replaces_the_name_and_is_scoped(world, django_capture_on_commit_callbacks):
    first = _run(world.acme, _report(1))
    second = _run(world.acme, _report(2))
    with django_capture_on_commit_callbacks(execute=True):
        baseline = save_baseline(first, user=world.owner)
    assert baseline.name == default_name("smoke", "gateway") == "smoke:gateway"
    assert (
        baseline.created_by == world.owner
        and baseline.profile_name == "smoke"
        and baseline.target == "gateway"
    )
    with django_capture_on_commit_callbacks(execute=True):
        replaced = save_baseline(second)
    assert replaced.pk == baseline.pk and LoadBaseline.objects.owned_by(world.acme).count() == 1
    assert baseline_for(world.acme, "smoke:gateway").run == second
    assert baseline_for(world.globex, "smoke:gateway") is None  # another organization sees nothing
    with django_capture_on_commit_callbacks(execute=True):
        named = save_baseline(first, "before-upgrade")
    assert baseline_for(world.acme, "before-upgrade") == named
    events = list(
        AuditEvent.objects.filter(organization=world.acme, action="loadtest.baseline_save").order_by("seq")
    )
    assert len(events) == 3 and events[1].data["replaced"] == str(first.uuid)


def test_only_a_completed_run_can_be_a_baseline(world):
    for status in (LoadRun.Status.RUNNING, LoadRun.Status.CANCELLED, LoadRun.Status.FAILED):
        with pytest.raises(BaselineError, match="only a completed run"):
            save_baseline(_run(world.acme, _report(1), status=status))
    with pytest.raises(BaselineError, match="no results"):
        save_baseline(_run(world.acme, {}))
    assert not LoadBaseline.objects.owned_by(world.acme).exists()


# --------------------------------------------------------------------------- verdicts
def test_a_run_is_compared_with_its_baseline(world):
    save_baseline(_run(world.acme, _report(1)))
    same = analyse_run(_run(world.acme, _report(2)))
    assert same.verdict == LoadRun.Verdict.PASSED
    assert same.comparison["verdict"] == "passed"
    assert same.comparison["baseline"]["name"] == "smoke:gateway"
    assert {op["verdict"] for op in same.comparison["operations"].values()} == {"same"}
    assert same.report["thresholds"][0]["passed"] is True

    slower = analyse_run(_run(world.acme, _report(3, shift_ms=30.0)))
    slower.refresh_from_db()
    assert slower.verdict == LoadRun.Verdict.REGRESSED
    assert slower.comparison["regressions"] == ["tools/call search", "tools/list"]


def test_without_a_baseline_thresholds_decide(world):
    failing = _report(4)
    failing["error_rate"] = 0.05
    run = analyse_run(_run(world.acme, failing))
    assert run.comparison == {} and run.verdict == LoadRun.Verdict.FAILED_THRESHOLDS
    assert run.report["thresholds"][0]["passed"] is False
    passing = analyse_run(_run(world.acme, _report(5)))
    assert passing.verdict == LoadRun.Verdict.PASSED


def test_a_run_that_did_not_complete_gets_no_verdict(world):
    save_baseline(_run(world.acme, _report(1)))
    run = analyse_run(_run(world.acme, _report(2, shift_ms=30), status=LoadRun.Status.CANCELLED))
    run.refresh_from_db()
    assert run.verdict == "" and run.comparison == {}


def test_the_report_gets_fairness_overhead_and_knee(world):
    orgs = {
        "acme": synthetic.latencies(7, 900),
        "globex": synthetic.latencies(8, 900),
        "initech": synthetic.latencies(9, 900),
    }
    report = _report(6, orgs=orgs)
    report["direct"] = _report(7)
    spec = {
        **SPEC,
        "organizations": [
            {"org": "acme", "weight": 1},
            {"org": "globex", "weight": 1},
            {"org": "initech", "weight": 1},
        ],
        "slo": {"p99_ms": 1000, "error_rate": 0.01},
    }
    run = analyse_run(_run(world.acme, report, spec=spec))
    assert run.report["fairness"]["jain_index"] == pytest.approx(1.0)
    assert run.report["overhead"]["operations"]["tools/list"]["throughput"]["ratio"] == pytest.approx(1.0)
    assert run.report["knee"]["sustained"] is True
    assert run.verdict == LoadRun.Verdict.PASSED


# --------------------------------------------------------------------------- the incident
@pytest.mark.usefixtures("eager")
def test_regression_opens_one_incident_notifies_and_the_next_passing_run_resolves_it(
    world, mailoutbox, django_capture_on_commit_callbacks
):
    mail = email_channel(world.acme, "perf@example.com")
    routing = rule(world.acme, "load_regression", channels=[mail], severity="critical", name="load tests")
    save_baseline(_run(world.acme, _report(1)))

    with django_capture_on_commit_callbacks(execute=True):
        regressed = analyse_run(_run(world.acme, _report(2, shift_ms=30.0)))
    incident = Incident.objects.owned_by(world.acme).get()
    assert incident.state == "open" and incident.rule == routing and incident.severity == "critical"
    assert incident.evidence["run"] == str(regressed.uuid)
    assert sorted(incident.evidence["regressions"]) == ["tools/call search", "tools/list"]
    assert incident.evidence["link"].endswith(f"/runs/{regressed.uuid}/")
    assert "slower: tools/call search, tools/list" in incident.title
    assert len(mailoutbox) == 1 and "perf@example.com" in mailoutbox[0].to
    assert "opened" in mailoutbox[0].subject

    # A second regressed run of the same profile and target: the same incident, not another mail.
    with django_capture_on_commit_callbacks(execute=True):
        again = analyse_run(_run(world.acme, _report(3, shift_ms=30.0)))
    assert Incident.objects.owned_by(world.acme).count() == 1 and len(mailoutbox) == 1
    incident.refresh_from_db()
    assert incident.evidence["runs"] == [str(regressed.uuid), str(again.uuid)]

    # Another target's regression is its own incident.
    save_baseline(_run(world.acme, _report(1), target="server:knowledge"))
    with django_capture_on_commit_callbacks(execute=True):
        analyse_run(_run(world.acme, _report(4, shift_ms=30.0), target="server:knowledge"))
    assert Incident.objects.owned_by(world.acme).filter(state="open").count() == 2

    # The periodic evaluation of the rule neither resolves nor duplicates them.
    assert evaluate_rule(routing.pk, timezone.now()) == "ok"
    assert Incident.objects.owned_by(world.acme).filter(state="open").count() == 2

    # The next passing run of smoke → gateway resolves its incident (and only that one).
    with django_capture_on_commit_callbacks(execute=True):
        passed = analyse_run(_run(world.acme, _report(5)))
    assert passed.verdict == LoadRun.Verdict.PASSED
    incident.refresh_from_db()
    assert incident.state == "resolved" and str(passed.uuid) in incident.resolution
    assert Incident.objects.owned_by(world.acme).filter(state="open").count() == 1
    assert [m.subject.split(":")[0] for m in mailoutbox] == [
        "[Omni MCP] [critical] opened",  # smoke → gateway
        "[Omni MCP] [critical] opened",  # smoke → server:knowledge
        "[Omni MCP] [critical] resolved",  # smoke → gateway
    ]
    assert "smoke → gateway" in mailoutbox[2].subject
    assert sorted(Delivery.objects.owned_by(world.acme).values_list("event", "status")) == [
        ("opened", "sent"),
        ("opened", "sent"),
        ("resolved", "sent"),
    ]
    actions = list(
        AuditEvent.objects.filter(organization=world.acme, action__startswith="alert.incident").values_list(
            "action", flat=True
        )
    )
    assert actions.count("alert.incident_open") == 2 and actions.count("alert.incident_resolve") == 1
    assert not Incident.objects.owned_by(world.globex).exists()


def test_failed_thresholds_open_an_incident_even_without_a_rule(world):
    failing = _report(4)
    failing["error_rate"] = 0.05
    run = analyse_run(_run(world.acme, failing))
    incident = active_incident(run)
    assert incident is not None and incident.rule is None and incident.rule_name == "load test"
    assert incident.evidence["failed_thresholds"] == ["error_rate <= 1%"]
    assert not Delivery.objects.owned_by(world.acme).exists()  # nobody to notify
    analyse_run(_run(world.acme, _report(5)))
    incident.refresh_from_db()
    assert incident.state == "resolved"


def test_a_maintenance_window_of_the_rule_mutes_it(world):
    routing = rule(world.acme, "load_regression", channels=[email_channel(world.acme, "a@example.com")])
    now = timezone.now()
    MaintenanceWindow.objects.create(
        organization=world.acme,
        rule=routing,
        starts_at=now - timezone.timedelta(minutes=1),
        ends_at=now + timezone.timedelta(hours=1),
    )
    failing = _report(4)
    failing["error_rate"] = 0.05
    run = analyse_run(_run(world.acme, failing), alert=False)
    assert notify_verdict(run) == "muted" and active_incident(run) is None


def test_the_rule_form_accepts_a_load_regression_rule(world):
    form = RuleForm(
        data={
            "name": "perf",
            "kind": "load_regression",
            "comparison": "gt",
            "threshold": "7",
            "for_seconds": "0",
            "severity": "warning",
            "enabled": "on",
        },
        org=world.acme,
    )
    assert form.is_valid(), form.errors
    saved = form.save()
    assert saved.kind == "load_regression" and saved.threshold == 0.0 and saved.params == {}
    scoped = RuleForm(
        data={
            "name": "perf",
            "kind": "load_regression",
            "comparison": "gt",
            "threshold": "0",
            "for_seconds": "0",
            "severity": "warning",
            "tool": "x__y",
        },
        org=world.acme,
    )
    assert not scoped.is_valid() and "tool" in scoped.errors


# --------------------------------------------------------------------------- exports
def test_exports_parse_back_without_credentials(world):
    save_baseline(_run(world.acme, _report(1)))
    orgs = {"acme": synthetic.latencies(7, 500), "globex": synthetic.latencies(8, 500)}
    report = _report(2, orgs=orgs)
    report["direct"] = _report(3)
    run = analyse_run(_run(world.acme, report))

    document = json.loads(report_json(run))
    assert document["run"]["id"] == str(run.uuid) and document["run"]["organization"] == world.acme.slug
    assert document["run"]["verdict"] == "passed" and document["baseline"]["name"] == "smoke:gateway"
    assert document["comparison"]["operations"].keys() == run.comparison["operations"].keys()
    assert (
        document["report"]["operations"]["tools/list"]["latency_ms"]
        == report["operations"]["tools/list"]["latency_ms"]
    )
    text = report_json(run)
    assert "omni_secret_key" not in text and "omni_sk" not in text and "Authorization" not in text
    assert document["spec"]["targets"] == [{"org": "acme"}]

    rows = list(csv.DictReader(io.StringIO(report_csv(run))))
    keyed = {(r["phase"], r["scope"], r["name"]): r for r in rows}
    assert set(keyed) == {
        ("main", "run", "smoke"),
        ("main", "operation", "tools/call search"),
        ("main", "operation", "tools/list"),
        ("main", "organization", "acme"),
        ("main", "organization", "globex"),
        ("direct", "run", "smoke"),
        ("direct", "operation", "tools/call search"),
        ("direct", "operation", "tools/list"),
    }
    search = keyed[("main", "operation", "tools/call search")]
    expected = report["operations"]["tools/call search"]["latency_ms"]
    for column, key in (
        ("p50_ms", "p50"),
        ("p95_ms", "p95"),
        ("p99_ms", "p99"),
        ("p99_9_ms", "p99_9"),
        ("max_ms", "max"),
    ):
        assert float(search[column]) == expected[key]
    assert int(search["requests"]) == 1500 and search["verdict"] == "same"
    assert keyed[("main", "run", "smoke")]["verdict"] == "passed"
    assert (
        float(keyed[("main", "organization", "globex")]["p99_ms"])
        == report["orgs"]["globex"]["latency_ms"]["p99"]
    )


def test_csv_cells_cannot_become_formulas(world):
    report = synthetic.report({"=HYPERLINK(1)": synthetic.latencies(1, 100)})
    rows = list(csv.reader(io.StringIO(report_csv(_run(world.acme, report)))))
    assert rows[2][2] == "'=HYPERLINK(1)"
