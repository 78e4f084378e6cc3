"""The load-test pages with the Django client: every page with runs made by factories (reports as
``contracts.Report`` built from real HDR histograms), roles, and another organization's objects."""

from __future__ import annotations

import uuid

import pytest

from omni.loadtest.models import LoadBaseline, LoadProfile, LoadRun
from omni.tenants.permissions import LOADTEST_READ, LOADTEST_RUN, role_capabilities
from tests.factories import LoadBaselineFactory, LoadProfileFactory, LoadShardFactory
from tests.loadtest.ui_support import ROLES, LoadWorld, client_for, finished_run, make_report

VALID_YAML = """\
name: ui-made
title: UI made
description: made by the UI test
mode: "2026-07-28"
target: gateway
operations:
  - tools/list
arrival:
  model: closed
  users: 2
  think: 0ms
duration: 2s
"""


@pytest.fixture
def lworld(db) -> LoadWorld:
    return LoadWorld()


def base(world) -> str:
    return f"/o/{world.acme.slug}/loadtests/"


def test_capabilities_by_role():
    assert {r for r in ROLES if LOADTEST_READ in role_capabilities(r)} == set(ROLES)
    assert {r for r in ROLES if LOADTEST_RUN in role_capabilities(r)} == {"owner", "admin"}


def test_sidebar_links_the_pages_for_members(lworld):
    page = client_for(lworld.users["viewer"]).get(f"/o/{lworld.acme.slug}/")
    assert f'href="/o/{lworld.acme.slug}/loadtests/"' in page.content.decode()


def test_run_list_shows_the_organizations_runs_only(lworld):
    mine = finished_run(lworld.acme)
    theirs = finished_run(lworld.globex, profile_name="theirs-profile")
    page = client_for(lworld.users["member"]).get(base(lworld))
    html = page.content.decode()
    assert page.status_code == 200
    assert str(mine.uuid) in html and str(theirs.uuid) not in html
    assert "theirs-profile" not in html
    assert "Start a run" not in html  # members read only


def test_finished_run_page_shows_the_report(lworld):
    run = finished_run(lworld.acme)
    report = run.report
    page = client_for(lworld.users["viewer"]).get(f"{base(lworld)}runs/{run.uuid}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="report"' in html
    assert f'data-testid="report-requests">{report["requests"]}<' in html
    # Per operation, with the HDR percentiles of the merged histogram.
    calc = report["operations"]["calculate"]["latency_ms"]
    for key in ("p50", "p90", "p95", "p99", "p99_9", "max"):
        assert f"<td>{calc[key]}</td>" in html, key
    assert "<code>calculate</code>" in html and "<code>list</code>" in html
    # Per organization, errors by kind, timeline charts, shards.
    assert f"<code>{lworld.acme.slug}</code>" in html
    assert "<code>http_5xx</code>" in html
    assert html.count('class="chart-svg"') == 2 and "<polyline" in html
    assert "host-b:202" in html
    assert 'data-testid="live"' not in html  # finished: no live feed
    assert "Export JSON" in html and "Cancel" not in html


def test_running_run_page_is_live_with_cancel_for_admins(lworld):
    run = finished_run(lworld.acme, status=LoadRun.Status.RUNNING, report={}, shards_done=1)
    LoadShardFactory(run=run, index=0, status="completed", worker="host-a:1")
    LoadShardFactory(run=run, index=1, status="running", worker="host-b:2")
    html = client_for(lworld.users["admin"]).get(f"{base(lworld)}runs/{run.uuid}/").content.decode()
    assert 'data-testid="live"' in html
    assert f'data-ws-path="/ws/loadtests/{lworld.acme.slug}/runs/{run.uuid}/"' in html
    assert "1 / 2" in html
    assert 'data-testid="cancel"' in html
    assert "host-b:2" in html
    assert 'data-testid="report"' not in html
    viewer = client_for(lworld.users["viewer"]).get(f"{base(lworld)}runs/{run.uuid}/").content.decode()
    assert 'data-testid="cancel"' not in viewer


def test_failed_run_page_shows_the_error_and_an_empty_report(lworld):
    run = finished_run(lworld.acme, status=LoadRun.Status.FAILED, report={}, error="shard 1: worker lost")
    page = client_for(lworld.users["viewer"]).get(f"{base(lworld)}runs/{run.uuid}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "shard 1: worker lost" in html and 'data-testid="report"' in html
    assert "Save as baseline" not in html


def test_unknown_and_foreign_runs_are_404(lworld):
    foreign = finished_run(lworld.globex)
    owner = client_for(lworld.users["owner"])
    for path in (
        f"{base(lworld)}runs/{uuid.uuid4()}/",
        f"{base(lworld)}runs/{foreign.uuid}/",
        f"{base(lworld)}runs/{foreign.uuid}/export.json",
        f"{base(lworld)}runs/{foreign.uuid}/export.csv",
    ):
        assert owner.get(path).status_code == 404, path
    for path in (
        f"{base(lworld)}runs/{foreign.uuid}/cancel/",
        f"{base(lworld)}runs/{foreign.uuid}/baseline/",
    ):
        assert owner.post(path, {"name": "stolen"}).status_code == 404, path
    assert not LoadBaseline.objects.filter(run=foreign).exists()
    # The other organization's owner does not see acme's run either (nor acme itself).
    mine = finished_run(lworld.acme)
    assert client_for(lworld.other).get(f"{base(lworld)}runs/{mine.uuid}/").status_code == 404
    assert owner.get(f"{base(lworld)}runs/not-a-uuid/").status_code == 404


def test_export_refuses_other_formats_and_unfinished_runs(lworld):
    owner = client_for(lworld.users["owner"])
    done = finished_run(lworld.acme)
    assert owner.get(f"{base(lworld)}runs/{done.uuid}/export.xml").status_code == 404
    running = finished_run(lworld.acme, status=LoadRun.Status.RUNNING, report={})
    assert owner.get(f"{base(lworld)}runs/{running.uuid}/export.json").status_code == 409


def test_profiles_list_detail_and_permissions(lworld):
    LoadProfileFactory(organization=lworld.acme, name="own-one", source=VALID_YAML)
    LoadProfileFactory(organization=lworld.globex, name="globex-secret", source=VALID_YAML)
    viewer = client_for(lworld.users["viewer"])
    html = viewer.get(f"{base(lworld)}profiles/").content.decode()
    assert "own-one" in html and "globex-secret" not in html
    assert "New profile" not in html
    detail = viewer.get(f"{base(lworld)}profiles/own-one/")
    assert detail.status_code == 200 and "made by the UI test" in detail.content.decode()
    assert viewer.get(f"{base(lworld)}profiles/globex-secret/").status_code == 404
    assert viewer.get(f"{base(lworld)}profiles/new/").status_code == 403
    assert viewer.post(f"{base(lworld)}profiles/own-one/delete/").status_code == 403
    assert LoadProfile.objects.filter(organization=lworld.acme, name="own-one").exists()


def test_create_edit_and_delete_a_profile(lworld):
    admin = client_for(lworld.users["admin"])
    response = admin.post(
        f"{base(lworld)}profiles/new/",
        {
            "name": "ui-made",
            "title": "UI",
            "source": VALID_YAML,
            "schedule": "0 3 * * *",
            "schedule_enabled": "on",
        },
    )
    assert response.status_code == 302, response.content[:800]
    profile = LoadProfile.objects.for_org(lworld.acme).get(name="ui-made")
    assert (
        profile.schedule == "0 3 * * *"
        and profile.schedule_enabled
        and profile.created_by == lworld.users["admin"]
    )
    # The same name again is a form error, not a 500.
    again = admin.post(f"{base(lworld)}profiles/new/", {"name": "ui-made", "source": VALID_YAML})
    assert again.status_code == 400 and "already has a profile" in again.content.decode()
    # Edit: a schedule needs an expression.
    bad = admin.post(
        f"{base(lworld)}profiles/ui-made/edit/", {"name": "ui-made", "source": VALID_YAML, "schedule": "* *"}
    )
    assert bad.status_code == 400 and "5-field cron" in bad.content.decode()
    worse = admin.post(
        f"{base(lworld)}profiles/ui-made/edit/",
        {"name": "ui-made", "source": VALID_YAML, "schedule": "99 * * * *"},
    )
    assert worse.status_code == 400 and "Not a valid cron expression" in worse.content.decode()
    ok = admin.post(
        f"{base(lworld)}profiles/ui-made/edit/",
        {"name": "ui-made", "title": "Renamed", "source": VALID_YAML, "schedule": ""},
    )
    assert ok.status_code == 302
    profile.refresh_from_db()
    assert profile.title == "Renamed" and profile.schedule == ""
    # Delete asks first (GET), deletes on POST.
    confirm = admin.get(f"{base(lworld)}profiles/ui-made/delete/")
    assert confirm.status_code == 200 and 'data-testid="confirm-delete"' in confirm.content.decode()
    assert LoadProfile.objects.filter(pk=profile.pk).exists()
    assert admin.post(f"{base(lworld)}profiles/ui-made/delete/").status_code == 302
    assert not LoadProfile.objects.filter(pk=profile.pk).exists()


def test_invalid_yaml_is_shown_as_form_errors_with_line_numbers(lworld):
    admin = client_for(lworld.users["admin"])
    broken = "name: broken\noperations:\n  - kind: tools/list\n    weight: [1\n"
    response = admin.post(f"{base(lworld)}profiles/new/", {"name": "broken", "source": broken})
    html = response.content.decode()
    assert response.status_code == 400
    assert 'data-testid="errors-source"' in html
    errors = html.split('data-testid="errors-source"', 1)[1].split("</ul>", 1)[0]
    assert "line" in errors.lower()
    assert not LoadProfile.objects.filter(organization=lworld.acme, name="broken").exists()
    not_a_mapping = admin.post(
        f"{base(lworld)}profiles/new/", {"name": "broken", "source": "- just\n- a list\n"}
    )
    assert (
        not_a_mapping.status_code == 400 and 'data-testid="errors-source"' in not_a_mapping.content.decode()
    )


def test_foreign_profile_cannot_be_edited_or_deleted(lworld):
    theirs = LoadProfileFactory(organization=lworld.globex, name="theirs", source=VALID_YAML)
    owner = client_for(lworld.users["owner"])
    assert owner.get(f"{base(lworld)}profiles/theirs/edit/").status_code == 404
    assert (
        owner.post(f"{base(lworld)}profiles/theirs/edit/", {"name": "x", "source": VALID_YAML}).status_code
        == 404
    )
    assert owner.post(f"{base(lworld)}profiles/theirs/delete/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "theirs"


def test_start_form_offers_profiles_targets_and_raise_limits_to_superusers_only(lworld):
    LoadProfileFactory(organization=lworld.acme, name="own-one", source=VALID_YAML)
    LoadBaselineFactory(run=finished_run(lworld.acme), name="nightly")
    html = client_for(lworld.users["admin"]).get(f"{base(lworld)}start/").content.decode()
    assert 'value="own-one"' in html and 'value="gateway"' in html and 'value="nightly"' in html
    assert "raise_limits" not in html
    root = client_for(lworld.superuser).get(f"{base(lworld)}start/").content.decode()
    assert 'name="raise_limits"' in root
    assert client_for(lworld.users["member"]).get(f"{base(lworld)}start/").status_code == 403
    # A profile that does not exist is a form error.
    bad = client_for(lworld.users["admin"]).post(
        f"{base(lworld)}start/", {"profile": "nope", "target": "gateway"}
    )
    assert bad.status_code == 400
    assert not LoadRun.objects.for_org(lworld.acme).filter(profile_name="nope").exists()


def test_compare_two_runs_side_by_side(lworld):
    a = finished_run(lworld.acme, report=make_report(seed=1))
    b = finished_run(lworld.acme, report=make_report(seed=2, slow_factor=3.0))
    viewer = client_for(lworld.users["viewer"])
    empty = viewer.get(f"{base(lworld)}compare/")
    assert empty.status_code == 200 and str(a.uuid) in empty.content.decode()  # offered in the pickers
    page = viewer.get(f"{base(lworld)}compare/", {"a": str(a.uuid), "b": str(b.uuid)})
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="compare-operations"' in html
    p95_a = a.report["operations"]["calculate"]["latency_ms"]["p95"]
    p95_b = b.report["operations"]["calculate"]["latency_ms"]["p95"]
    assert f"<td>{p95_a}</td>" in html and f"<td>{p95_b}</td>" in html
    change = round(100.0 * (p95_b - p95_a) / p95_a, 1)
    assert f"{change} %" in html
    foreign = finished_run(lworld.globex)
    refused = viewer.get(f"{base(lworld)}compare/", {"a": str(a.uuid), "b": str(foreign.uuid)})
    assert (
        refused.status_code == 400
        and str(foreign.uuid) not in refused.content.decode().split("compare-error")[1]
    )
    assert viewer.get(f"{base(lworld)}compare/", {"a": "junk", "b": "<script>"}).status_code == 400


def test_trend_shows_history_and_verdicts(lworld):
    runs = [
        finished_run(lworld.acme, report=make_report(seed=s, slow_factor=f), verdict=v)
        for s, f, v in ((1, 1.0, ""), (2, 1.0, "passed"), (3, 4.0, "regressed"))
    ]
    finished_run(lworld.acme, profile_name="stress")
    finished_run(lworld.globex, profile_name="globex-only")
    viewer = client_for(lworld.users["viewer"])
    choices = viewer.get(f"{base(lworld)}trend/").content.decode()
    assert "smoke → gateway" in choices and "stress → gateway" in choices and "globex-only" not in choices
    html = viewer.get(f"{base(lworld)}trend/", {"profile": "smoke", "target": "gateway"}).content.decode()
    for run in runs:
        assert str(run.uuid) in html
        assert f"<td>{run.report['latency_ms']['p95']}</td>" in html
    assert "regression" in html and "passed" in html
    assert html.count("<polyline") == 2  # p95 and throughput


def test_baselines_save_list_and_delete(lworld):
    run = finished_run(lworld.acme)
    LoadBaselineFactory(run=run, name="before-change")
    LoadBaselineFactory(run=finished_run(lworld.globex), name="globex-base")
    viewer = client_for(lworld.users["viewer"])
    html = viewer.get(f"{base(lworld)}baselines/").content.decode()
    assert "before-change" in html and "globex-base" not in html
    assert viewer.post(f"{base(lworld)}baselines/before-change/delete/").status_code == 403
    admin = client_for(lworld.users["admin"])
    assert admin.post(f"{base(lworld)}baselines/globex-base/delete/").status_code == 404
    assert admin.post(f"{base(lworld)}baselines/before-change/delete/").status_code == 302
    assert not LoadBaseline.objects.for_org(lworld.acme).filter(name="before-change").exists()
    assert LoadRun.objects.filter(pk=run.pk).exists()


@pytest.mark.parametrize("role", ROLES)
def test_every_read_page_answers_each_role(lworld, role):
    run = finished_run(lworld.acme)
    LoadProfileFactory(organization=lworld.acme, name="own-one", source=VALID_YAML)
    client = client_for(lworld.users[role])
    for path in (
        "",
        "profiles/",
        "profiles/own-one/",
        f"runs/{run.uuid}/",
        "compare/",
        "trend/",
        "trend/?profile=smoke&target=gateway",
        "baselines/",
    ):
        assert client.get(base(lworld) + path).status_code == 200, (role, path)
    for path in ("start/", "profiles/new/", "profiles/own-one/edit/", "profiles/own-one/delete/"):
        expected = 200 if role in ("owner", "admin") else 403
        assert client.get(base(lworld) + path).status_code == expected, (role, path)
