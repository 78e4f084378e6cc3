"""``POST /api/test/scenarios``: shipped or inline scenarios, reports, errors and permissions."""

from __future__ import annotations

import uuid

import pytest

from omni.playground.models import ScenarioRun, TestRun

URL = "/api/test/scenarios"
INLINE = """\
name: inline_check
variables: {expected: 4}
steps:
  - name: add
    operation: tools/call
    params: {name: utilities__calculate, arguments: {expression: "2+2"}}
    expect:
      jsonpath:
        - {path: $.structuredContent.result, equals: "{{ expected }}"}
"""


@pytest.fixture
def api(client):
    def post(user, body):
        if user is not None:
            client.force_login(user)
        return client.post(URL, body, content_type="application/json")

    return post


def test_a_shipped_scenario(world, api):
    response = api(world.member, {"organization": world.slug, "scenario": "notes_crud"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "passed" and body["passed"] is True
    assert body["organization"] == world.slug and body["name"] == "notes_crud"
    assert [step["status"] for step in body["steps"]] == ["passed"] * 6
    run = ScenarioRun.objects.for_org(world.org).get(public_id=body["run_id"])
    assert (run.trigger, run.origin, run.user_id) == ("api", "shipped:notes_crud", world.member.pk)
    ids = {uuid.UUID(step["test_run_id"]) for step in body["steps"]}
    assert (
        set(TestRun.objects.for_org(world.org).filter(scenario_run=run).values_list("public_id", flat=True))
        == ids
    )


def test_inline_yaml_with_variables(world, api):
    passed = api(world.member, {"organization": world.slug, "yaml": INLINE}).json()
    assert passed["status"] == "passed"
    failed = api(world.member, {"organization": world.slug, "yaml": INLINE, "variables": {"expected": 5}})
    assert failed.status_code == 200
    body = failed.json()
    assert body["status"] == "failed" and body["passed"] is False
    assert body["steps"][0]["checks"][1] == {
        "kind": "equals",
        "target": "$.structuredContent.result",
        "passed": False,
        "message": "expected 5, got 4",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scenario": "notes_crud", "yaml": INLINE}, "non_field_errors"),
        ({}, "non_field_errors"),
        ({"yaml": INLINE, "variables": ["not", "an", "object"]}, "variables"),
        ({"yaml": INLINE, "stop_on_failure": "perhaps"}, "stop_on_failure"),
    ],
)
def test_bad_bodies_are_400(world, api, body, field):
    response = api(world.member, {"organization": world.slug, **body})
    assert response.status_code == 400
    assert field in response.json()
    assert ScenarioRun.objects.for_org(world.org).count() == 0


def test_invalid_scenarios_and_variables_are_400_with_errors(world, api):
    response = api(world.member, {"organization": world.slug, "yaml": "name: x\nsteps:\n  - {name: a}\n"})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Invalid scenario.",
        "errors": ["line 3, steps[0]: 'operation' is a required property"],
    }
    response = api(world.member, {"organization": world.slug, "scenario": "no_such_one"})
    assert (
        response.status_code == 400
        and "no shipped scenario called 'no_such_one'" in response.json()["errors"][0]
    )
    response = api(world.member, {"organization": world.slug, "yaml": INLINE, "variables": {"other": 1}})
    assert response.status_code == 400
    assert response.json()["errors"] == ["unknown variable 'other' (this scenario has: expected)"]
    response = api(world.member, {"organization": world.slug, "yaml": INLINE, "variables": {"expected": [1]}})
    assert response.status_code == 400
    assert ScenarioRun.objects.for_org(world.org).count() == 0


def test_permissions(world, api, client):
    assert api(None, {"organization": world.slug, "scenario": "utilities_smoke"}).status_code in (401, 403)
    assert api(world.outsider, {"organization": world.slug, "scenario": "utilities_smoke"}).status_code == 404
    assert api(world.viewer, {"organization": world.slug, "scenario": "utilities_smoke"}).status_code == 403
    assert ScenarioRun.objects.for_org(world.org).count() == 0
