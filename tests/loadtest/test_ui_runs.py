"""Starting, refusing, cancelling and following up runs through the pages, with the real profiles,
services and analysis parts (no substitutes): the start form creates the run with
``services.create_run`` and starts it; a bound or an invalid profile comes back as a form error."""

from __future__ import annotations

import pytest

from omni.loadtest.followups import KEY, apply_followups
from omni.loadtest.models import LoadBaseline, LoadProfile, LoadRun
from tests.factories import LoadBaselineFactory
from tests.loadtest.ui_support import LoadWorld, client_for, finished_run, make_report

TOO_MANY_USERS = """\
name: too-big
target: gateway
operations:
  - tools/list
arrival:
  model: closed
  users: 500
duration: 5s
"""


LIST_ONLY = """\
name: list-only
target: gateway
operations:
  - tools/list
arrival:
  model: closed
  users: 1
duration: 2s
"""


@pytest.fixture
def lworld(db) -> LoadWorld:
    world = LoadWorld()
    LoadProfile.objects.create(organization=world.acme, name="list-only", source=LIST_ONLY)
    return world


def base(world) -> str:
    return f"/o/{world.acme.slug}/loadtests/"


def test_start_a_shipped_profile_redirects_to_its_live_page(lworld, django_capture_on_commit_callbacks):
    admin = client_for(lworld.users["admin"])
    with django_capture_on_commit_callbacks(execute=False):  # no worker here: the shards stay queued
        response = admin.post(
            f"{base(lworld)}start/", {"profile": "smoke", "target": "gateway", "compare_baseline": ""}
        )
    assert response.status_code == 302, response.content[:2000]
    run = LoadRun.objects.for_org(lworld.acme).get()
    assert response["Location"] == f"{base(lworld)}runs/{run.uuid}/"
    assert run.profile_name == "smoke" and run.trigger == "ui" and run.created_by == lworld.users["admin"]
    assert run.target == "gateway" and not run.raised_limits
    assert run.shards.count() >= 1
    page = admin.get(response["Location"]).content.decode()
    assert 'data-testid="live"' in page and 'data-testid="cancel"' in page


def test_a_bound_over_the_organizations_limit_is_a_clear_form_error(lworld):
    LoadProfile.objects.create(organization=lworld.acme, name="too-big", source=TOO_MANY_USERS)
    response = client_for(lworld.users["owner"]).post(
        f"{base(lworld)}start/", {"profile": "too-big", "target": "gateway"}
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert 'data-testid="form-errors"' in html
    errors = html.split('data-testid="form-errors"', 1)[1].split("</div>", 1)[0]
    assert "users" in errors.lower()
    assert not LoadRun.objects.for_org(lworld.acme).exists()


def test_raise_limits_is_ignored_for_non_superusers(lworld, django_capture_on_commit_callbacks):
    LoadProfile.objects.create(organization=lworld.acme, name="too-big", source=TOO_MANY_USERS)
    response = client_for(lworld.users["owner"]).post(
        f"{base(lworld)}start/", {"profile": "too-big", "target": "gateway", "raise_limits": "on"}
    )
    assert response.status_code == 400
    with django_capture_on_commit_callbacks(execute=False):
        root = client_for(lworld.superuser).post(
            f"{base(lworld)}start/", {"profile": "too-big", "target": "gateway", "raise_limits": "on"}
        )
    assert root.status_code == 302, root.content[:2000]
    assert LoadRun.objects.for_org(lworld.acme).get().raised_limits


def test_the_start_form_records_the_baseline_requests(lworld, django_capture_on_commit_callbacks):
    LoadBaselineFactory(run=finished_run(lworld.acme), name="before")
    with django_capture_on_commit_callbacks(execute=False):
        response = client_for(lworld.users["owner"]).post(
            f"{base(lworld)}start/",
            {
                "profile": "list-only",
                "target": "gateway",
                "compare_baseline": "before",
                "save_baseline": "after",
            },
        )
    assert response.status_code == 302, response.content[:2000]
    run = LoadRun.objects.for_org(lworld.acme).exclude(status=LoadRun.Status.COMPLETED).get()
    assert run.comparison == {"baseline": "before"}  # what the execution part's finish compares with
    assert run.spec[KEY] == {"save_as": "after"}
    html = client_for(lworld.users["viewer"]).get(response["Location"]).content.decode()
    assert "compared with the baseline “before”" in html and "saved as the baseline “after”" in html


def test_save_as_requested_is_done_once_when_the_run_passed(lworld):
    run = finished_run(lworld.acme, verdict=LoadRun.Verdict.PASSED)
    run.spec = {**run.spec, KEY: {"save_as": "smoke:gateway"}}
    run.save()
    viewer_page = client_for(lworld.users["viewer"]).get(f"{base(lworld)}runs/{run.uuid}/")
    assert viewer_page.status_code == 200
    baseline = LoadBaseline.objects.for_org(lworld.acme).get(name="smoke:gateway")
    assert baseline.run == run
    run.refresh_from_db()
    assert run.spec[KEY]["done"] and run.spec[KEY]["outcome"] == "saved"
    assert apply_followups(run) == []  # once


def test_save_as_requested_is_not_done_for_a_regressed_run(lworld):
    run = finished_run(lworld.acme, verdict=LoadRun.Verdict.REGRESSED)
    run.spec = {**run.spec, KEY: {"save_as": "nope"}}
    run.save()
    notes = apply_followups(run)
    assert notes and "did not pass" in notes[0]
    assert not LoadBaseline.objects.for_org(lworld.acme).filter(name="nope").exists()


def test_save_as_baseline_button_and_the_comparison_on_the_page(lworld):
    before = finished_run(lworld.acme, report=make_report(seed=1))
    admin = client_for(lworld.users["admin"])
    response = admin.post(f"{base(lworld)}runs/{before.uuid}/baseline/", {"name": ""})
    assert response.status_code == 302
    assert LoadBaseline.objects.for_org(lworld.acme).get(name="smoke:gateway").run == before
    # A slower run compared with it by the analysis part: the page shows the verdict per operation.
    from omni.loadtest.analysis import compare

    slower_report = make_report(seed=2, slow_factor=4.0)
    comparison = compare(slower_report, before.report, None)
    slower = finished_run(
        lworld.acme, report=slower_report, comparison=comparison, verdict=LoadRun.Verdict.REGRESSED
    )
    html = admin.get(f"{base(lworld)}runs/{slower.uuid}/").content.decode()
    assert 'data-testid="comparison"' in html
    verdict = html.split('data-testid="comparison-verdict">', 1)[1].split("<", 1)[0]
    assert verdict == "regressed"
    assert "slower" in html.split('data-testid="comparison"', 1)[1]


def test_cancel_from_the_page_asks_the_run_to_stop(lworld, django_capture_on_commit_callbacks):
    admin = client_for(lworld.users["admin"])
    with django_capture_on_commit_callbacks(execute=False):
        started = admin.post(f"{base(lworld)}start/", {"profile": "list-only", "target": "gateway"})
    run = LoadRun.objects.for_org(lworld.acme).get()
    assert client_for(lworld.users["member"]).post(f"{started['Location']}cancel/").status_code == 403
    assert admin.post(f"{started['Location']}cancel/").status_code == 302
    run.refresh_from_db()
    assert run.cancel_requested


def test_exports_are_the_analysis_parts(lworld):
    import json

    run = finished_run(lworld.acme)
    viewer = client_for(lworld.users["viewer"])
    as_json = viewer.get(f"{base(lworld)}runs/{run.uuid}/export.json")
    assert as_json.status_code == 200 and as_json["Content-Type"] == "application/json"
    assert json.loads(as_json.content)  # a JSON document
    assert "attachment" in as_json["Content-Disposition"]
    as_csv = viewer.get(f"{base(lworld)}runs/{run.uuid}/export.csv")
    assert as_csv.status_code == 200 and as_csv["Content-Type"].startswith("text/csv")
    assert "calculate" in as_csv.content.decode()
