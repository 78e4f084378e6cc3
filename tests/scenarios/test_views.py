"""The scenario pages: list, run with variables, report, upload, delete — and who may do what."""

from __future__ import annotations

import pytest
from django.urls import reverse

from omni.playground.models import ScenarioRun, UploadedScenario
from tests.playground.conftest import reset_mcp_counters

UPLOAD = """\
name: uploaded_check
description: An uploaded scenario.
variables:
  expression: "6*7"
steps:
  - name: answer
    operation: tools/call
    params: {name: utilities__calculate, arguments: {expression: "{{ expression }}"}}
    expect:
      jsonpath:
        - {path: $.structuredContent.result, equals: 42}
"""


def url(name: str, world, *args) -> str:
    return reverse(f"playground:{name}", args=[world.slug, *args])


@pytest.fixture
def as_user(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def test_the_list_shows_shipped_scenarios_to_every_member(world, as_user):
    page = as_user(world.viewer).get(url("scenarios", world))
    assert page.status_code == 200
    html = page.content.decode()
    for name in ("notes_crud", "utilities_smoke", "analytics_pipeline", "prompts_and_resources"):
        assert f'data-scenario="{name}"' in html
    assert "Upload a scenario" not in html and 'name="scenario"' not in html  # a viewer can do neither

    html = as_user(world.member).get(url("scenarios", world)).content.decode()
    assert 'value="shipped:utilities_smoke"' in html and "Upload a scenario" not in html
    html = as_user(world.owner).get(url("scenarios", world)).content.decode()
    assert "Upload a scenario" in html


def test_outsiders_get_404_and_anonymous_users_log_in(world, client, as_user):
    assert client.get(url("scenarios", world)).status_code == 302
    outsider = as_user(world.outsider)
    assert outsider.get(url("scenarios", world)).status_code == 404
    assert (
        outsider.post(url("scenario_run", world), {"scenario": "shipped:utilities_smoke"}).status_code == 404
    )
    assert ScenarioRun.objects.for_org(world.org).count() == 0


def test_running_a_shipped_scenario_shows_its_report(world, as_user):
    member = as_user(world.member)
    response = member.post(
        url("scenario_run", world),
        {"scenario": "shipped:utilities_smoke", "var_message": "Ünïcode round trip"},
    )
    run = ScenarioRun.objects.for_org(world.org).get()
    assert response.status_code == 302
    assert response["Location"] == url("scenario_run_detail", world, run.public_id)
    assert (run.status, run.trigger, run.user_id, run.origin) == (
        "passed",
        "ui",
        world.member.pk,
        "shipped:utilities_smoke",
    )
    assert run.variables["message"] == "Ünïcode round trip" and run.variables["server"] == "utilities"

    html = member.get(response["Location"]).content.decode()
    assert "7 of 7 steps passed" in html
    assert html.count('class="step step-passed"') == 7
    step = run.test_runs.order_by("created_at", "id").first()
    assert reverse("playground:run", args=[world.slug, step.public_id]) in html
    assert "compare with previous run" not in html

    member.post(url("scenario_run", world), {"scenario": "shipped:utilities_smoke"})
    second = ScenarioRun.objects.for_org(world.org).order_by("-started_at", "-id").first()
    html = member.get(url("scenario_run_detail", world, second.public_id)).content.decode()
    assert html.count("compare with previous run") == 7
    first_hash = run.test_runs.filter(target="utilities__hash_text").get().public_id
    second_hash = second.test_runs.filter(target="utilities__hash_text").get().public_id
    assert f"?a={first_hash}&amp;b={second_hash}" in html


def test_a_failing_run_shows_the_failed_check(world, as_user):
    owner = as_user(world.owner)
    owner.post(url("scenario_upload", world), {"text": UPLOAD})
    uploaded = UploadedScenario.objects.for_org(world.org).get()
    response = owner.post(
        url("scenario_run", world), {"scenario": f"uploaded:{uploaded.public_id}", "var_expression": "6*8"}
    )
    html = owner.get(response["Location"]).content.decode()
    assert "0 of 1 steps passed" in html
    assert "expected 42, got 48" in html


def test_bad_variables_are_an_inline_error(world, as_user):
    response = as_user(world.member).post(
        url("scenario_run", world), {"scenario": "shipped:utilities_smoke", "var_nope": "1"}
    )
    assert response.status_code == 400
    assert "unknown variable &#x27;nope&#x27;" in response.content.decode()
    assert ScenarioRun.objects.for_org(world.org).count() == 0


def test_viewers_may_not_run_and_unknown_scenarios_are_404(world, as_user):
    viewer = as_user(world.viewer)
    assert viewer.post(url("scenario_run", world), {"scenario": "shipped:utilities_smoke"}).status_code == 403
    member = as_user(world.member)
    assert (
        member.post(url("scenario_run", world), {"scenario": "shipped:../../etc/passwd"}).status_code == 404
    )
    assert member.post(url("scenario_run", world), {"scenario": "uploaded:not-a-uuid"}).status_code == 404
    assert ScenarioRun.objects.for_org(world.org).count() == 0


def test_upload_run_and_delete(world, as_user):
    owner = as_user(world.owner)
    response = owner.post(url("scenario_upload", world), {"text": UPLOAD})
    assert response.status_code == 302
    uploaded = UploadedScenario.objects.for_org(world.org).get()
    assert (uploaded.name, uploaded.created_by_id) == ("uploaded_check", world.owner.pk)
    html = owner.get(url("scenarios", world)).content.decode()
    assert 'data-scenario="uploaded_check"' in html

    response = owner.post(url("scenario_run", world), {"scenario": f"uploaded:{uploaded.public_id}"})
    run = ScenarioRun.objects.for_org(world.org).get()
    assert run.status == "passed" and run.origin == f"uploaded:{uploaded.public_id}"

    # Uploading a scenario of the same name replaces it.
    owner.post(url("scenario_upload", world), {"text": UPLOAD.replace("An uploaded", "A replaced")})
    assert UploadedScenario.objects.for_org(world.org).get().description == "A replaced scenario."

    assert owner.post(url("scenario_delete", world, uploaded.public_id)).status_code == 302
    assert not UploadedScenario.objects.for_org(world.org).exists()
    assert owner.post(url("scenario_delete", world, uploaded.public_id)).status_code == 404


def test_invalid_uploads_are_inline_errors_and_store_nothing(world, as_user):
    owner = as_user(world.owner)
    response = owner.post(url("scenario_upload", world), {"text": "name: broken\nsteps:\n  - name: a\n"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "line 3, steps[0]: &#x27;operation&#x27; is a required property" in html
    response = owner.post(
        url("scenario_upload", world), {"text": UPLOAD.replace("uploaded_check", "notes_crud")}
    )
    assert response.status_code == 400 and "is a shipped scenario" in response.content.decode()
    response = owner.post(url("scenario_upload", world), {"text": "  "})
    assert response.status_code == 400 and "Paste a scenario or choose a file." in response.content.decode()
    assert not UploadedScenario.objects.for_org(world.org).exists()


def test_upload_from_a_file(world, as_user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    owner = as_user(world.owner)
    response = owner.post(
        url("scenario_upload", world),
        {"file": SimpleUploadedFile("s.yaml", UPLOAD.encode(), "application/yaml")},
    )
    assert response.status_code == 302
    assert UploadedScenario.objects.for_org(world.org).filter(name="uploaded_check").exists()


def test_members_may_not_upload_or_delete(world, as_user):
    owner = as_user(world.owner)
    owner.post(url("scenario_upload", world), {"text": UPLOAD})
    uploaded = UploadedScenario.objects.for_org(world.org).get()
    member = as_user(world.member)
    assert member.post(url("scenario_upload", world), {"text": UPLOAD}).status_code == 403
    assert member.post(url("scenario_delete", world, uploaded.public_id)).status_code == 403
    assert UploadedScenario.objects.for_org(world.org).count() == 1


def test_other_organizations_runs_and_scenarios_are_404(world, as_user):
    owner = as_user(world.owner)
    owner.post(url("scenario_upload", world), {"text": UPLOAD})
    uploaded = UploadedScenario.objects.for_org(world.org).get()
    owner.post(url("scenario_run", world), {"scenario": "shipped:utilities_smoke"})
    run = ScenarioRun.objects.for_org(world.org).get()

    outsider = as_user(world.outsider)  # owner of the other organization
    other = reverse("playground:scenario_run_detail", args=[world.other.slug, run.public_id])
    assert outsider.get(other).status_code == 404
    other_run = reverse("playground:scenario_run", args=[world.other.slug])
    assert outsider.post(other_run, {"scenario": f"uploaded:{uploaded.public_id}"}).status_code == 404
    other_delete = reverse("playground:scenario_delete", args=[world.other.slug, uploaded.public_id])
    assert outsider.post(other_delete).status_code == 404
    assert UploadedScenario.objects.for_org(world.org).count() == 1


def test_multi_line_variables_round_trip_through_the_form(world, as_user):
    member = as_user(world.member)
    html = member.get(url("scenarios", world)).content.decode()
    assert '<textarea name="var_code" rows="3" cols="24">def add(a, b):\n    return a - b</textarea>' in html
    member.post(
        url("scenario_run", world),
        {"scenario": "shipped:prompts_and_resources", "var_code": "def add(a, b):\r\n    return a - b"},
    )
    run = ScenarioRun.objects.for_org(world.org).get()
    assert run.status == "passed", run.report
    assert run.variables["code"] == "def add(a, b):\n    return a - b"


def test_a_scenario_run_from_the_ui_counts_each_step(world, as_user):
    """Each step draws from the MCP rate limits; the refused step fails and the run stops."""
    world.org.settings = {"rate_limits": {"mcp_per_key_per_minute": 2}}
    world.org.save()
    reset_mcp_counters(world.org, world.member)
    response = as_user(world.member).post(url("scenario_run", world), {"scenario": "shipped:utilities_smoke"})
    assert response.status_code == 302
    run = ScenarioRun.objects.for_org(world.org).get()
    steps = run.report["steps"]
    assert [step["status"] for step in steps] == ["passed", "passed", "failed"] + ["skipped"] * 4
    assert steps[2]["message"].startswith("rate limited: Too Many Requests: the mcp per key per minute")
    assert run.status == "failed" and run.report["message"].startswith("the run stopped: Too Many Requests")
    assert run.test_runs.count() == 2
    html = as_user(world.member).get(response["Location"]).content.decode()
    assert "rate limited: Too Many Requests" in html
