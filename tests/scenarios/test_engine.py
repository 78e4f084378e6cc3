"""The engine against the real built-in servers: every shipped scenario passes; failures, saved
variables, skipped steps and stored runs are what the report says."""

from __future__ import annotations

import textwrap

import pytest
from django.core.exceptions import PermissionDenied

from mcp_servers.models import Dataset, Note
from omni.playground.models import ScenarioRun, TestRun
from omni.playground.scenario_library import load_shipped, shipped_files
from omni.playground.scenario_spec import ScenarioError, load_scenario
from omni.playground.scenarios import operator_context, run_scenario
from omni.tenants.services import resolve_user_context


def scenario(text: str):
    return load_scenario(textwrap.dedent(text), source="test")


@pytest.mark.parametrize("name", sorted(shipped_files()))
def test_every_shipped_scenario_passes(world, name):
    ctx = resolve_user_context(world.owner, world.slug)
    report = run_scenario(ctx, load_shipped(name), user=world.owner, origin=f"shipped:{name}")
    assert report.passed, report.as_text()
    assert all(step.status == "passed" for step in report.steps)

    run = ScenarioRun.objects.for_org(world.org).get(public_id=report.run_id)
    assert (run.status, run.name, run.origin, run.username) == (
        "passed",
        name,
        f"shipped:{name}",
        world.owner.username,
    )
    assert run.total_steps == run.passed_steps == len(report.steps) and run.failed_steps == 0
    assert run.report["steps"][0]["name"] == report.steps[0].name
    steps = list(TestRun.objects.for_org(world.org).filter(scenario_run=run).order_by("created_at", "id"))
    assert [s.public_id for s in steps] == [__import__("uuid").UUID(r.test_run_id) for r in report.steps]
    assert {s.source for s in steps} == {"scenario"}
    assert all(s.user_id == world.owner.pk for s in steps)


def test_notes_crud_really_creates_and_deletes_in_the_organization(world):
    ctx = resolve_user_context(world.owner, world.slug)
    report = run_scenario(ctx, load_shipped("notes_crud"), variables={"title": "Rocket log"})
    create = report.steps[0]
    note_id = create.saved["note_id"]
    assert create.params["arguments"]["title"].startswith("Rocket log ")
    assert report.steps[1].params == {"name": "knowledge__get_note", "arguments": {"id": note_id}}
    assert not Note.objects.for_org(world.slug).filter(public_id=note_id).exists()  # deleted at the end
    assert not Note.objects.for_org(world.other.slug).exists()


def test_analytics_dataset_belongs_to_the_organization(world):
    ctx = resolve_user_context(world.owner, world.slug)
    assert run_scenario(ctx, load_shipped("analytics_pipeline")).passed
    assert Dataset.objects.for_org(world.slug).filter(name="scenario-sales").exists()
    assert not Dataset.objects.for_org(world.other.slug).filter(name="scenario-sales").exists()


FAILING = """\
    name: failing
    variables: {expected: 15}
    steps:
      - name: add
        operation: tools/call
        params: {name: utilities__calculate, arguments: {expression: "7+7"}}
        expect:
          jsonpath:
            - {path: $.structuredContent.result, equals: "{{ expected }}"}
            - {path: $.structuredContent.expression, equals: "7+7"}
      - name: after
        operation: tools/list
"""


def test_a_failed_expectation_fails_the_run_and_skips_the_rest(world):
    ctx = resolve_user_context(world.owner, world.slug)
    report = run_scenario(ctx, scenario(FAILING))
    assert report.status == "failed" and not report.passed
    add, after = report.steps
    assert (add.status, add.outcome, after.status) == ("failed", "ok", "skipped")
    assert [(c.kind, c.passed, c.message) for c in add.failed_checks] == [
        ("equals", False, "expected 15, got 14")
    ]
    text = report.as_text()
    assert (
        "FAIL  1. add (tools/call) [ok]" in text
        and "✗ equals $.structuredContent.result: expected 15, got 14" in text
    )
    assert "SKIP  2. after (tools/list)" in text and text.splitlines()[-1].startswith(
        "FAILED: 1 failed, 1 skipped"
    )

    run = ScenarioRun.objects.for_org(world.org).get(public_id=report.run_id)
    assert (run.status, run.passed_steps, run.failed_steps, run.total_steps) == ("failed", 0, 1, 2)
    assert run.test_runs.count() == 1  # the skipped step did not run


def test_overrides_and_continue_on_failure(world):
    ctx = resolve_user_context(world.owner, world.slug)
    report = run_scenario(ctx, scenario(FAILING), variables={"expected": "14"}, stop_on_failure=False)
    assert report.passed and report.variables == {"expected": 14}  # text override takes the default's type
    failing = run_scenario(ctx, scenario(FAILING), stop_on_failure=False)
    assert [s.status for s in failing.steps] == ["failed", "passed"]


def test_bad_overrides_are_refused_before_anything_runs(world):
    ctx = resolve_user_context(world.owner, world.slug)
    before = ScenarioRun.objects.for_org(world.org).count()
    with pytest.raises(ScenarioError, match="unknown variable 'nope'"):
        run_scenario(ctx, scenario(FAILING), variables={"nope": "1"})
    with pytest.raises(ScenarioError, match="'many' is not an integer"):
        run_scenario(ctx, scenario(FAILING), variables={"expected": "many"})
    assert ScenarioRun.objects.for_org(world.org).count() == before


def test_a_missing_reference_fails_the_step_without_running_it(world):
    ctx = resolve_user_context(world.owner, world.slug)
    report = run_scenario(
        ctx,
        scenario(
            """\
            name: missing_ref
            steps:
              - name: first
                operation: tools/call
                params: {name: utilities__calculate, arguments: {expression: "1"}}
              - name: second
                operation: tools/call
                params: {name: utilities__calculate, arguments: {expression: "{{ steps.first.result.nope }}"}}
            """
        ),
    )
    second = report.steps[1]
    assert second.status == "failed" and second.outcome == "" and second.test_run_id is None
    assert "there is no 'nope' in steps.first.result" in second.message


def test_tool_errors_and_expected_errors(world):
    ctx = resolve_user_context(world.owner, world.slug)
    report = run_scenario(
        ctx,
        scenario(
            """\
            name: errors
            options: {stop_on_failure: false}
            steps:
              - name: unknown_tool_expected
                operation: tools/call
                params: {name: nope__nothing}
                expect:
                  status: error
                  jsonpath: [{path: $.error.message, contains: "Unknown tool"}]
              - name: unknown_tool_unexpected
                operation: tools/call
                params: {name: nope__nothing}
              - name: bad_params
                operation: prompts/get
                params: {name: code_review, arguments: {code: {nested: true}}}
            """
        ),
    )
    expected, unexpected, bad = report.steps
    assert expected.status == "passed" and expected.outcome == "error"
    assert unexpected.status == "failed" and "Unknown tool: nope__nothing" in unexpected.message
    assert unexpected.failed_checks[0].message == "expected status ok, got error"
    assert bad.status == "failed" and bad.message.startswith("parameters refused") and bad.test_run_id is None


def test_steps_see_only_their_organization(world):
    """The other organization has only the utilities server: knowledge tools are unknown there."""
    ctx = operator_context(world.other)
    report = run_scenario(ctx, load_shipped("notes_crud"))
    assert report.status == "failed"
    assert "Unknown tool: knowledge__create_note" in report.steps[0].message
    assert ScenarioRun.objects.for_org(world.org).filter(public_id=report.run_id).count() == 0
    assert ScenarioRun.objects.for_org(world.other).filter(public_id=report.run_id).count() == 1


def test_a_viewer_may_not_run_tool_calls(world):
    ctx = resolve_user_context(world.viewer, world.slug)
    with pytest.raises(PermissionDenied):
        run_scenario(ctx, load_shipped("utilities_smoke"))
    assert run_scenario(
        ctx,
        scenario(
            """\
        name: read_only
        steps:
          - {name: prompts, operation: prompts/list}
        """
        ),
    ).passed
