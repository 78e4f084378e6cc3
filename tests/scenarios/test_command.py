"""``manage.py run_scenario``: a real process against the test database; exit 0 / 1 / 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from omni.playground.models import ScenarioRun, TestRun
from tests.live import ROOT, database_url

FAILING = """\
name: cli_failing
variables:
  expected: 15
steps:
  - name: add
    operation: tools/call
    params: {name: utilities__calculate, arguments: {expression: "7+7"}}
    expect:
      jsonpath:
        - {path: $.structuredContent.result, equals: "{{ expected }}"}
  - name: never
    operation: tools/list
"""


def manage(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    for name in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY", "OMNI_SIGNING_SECRET", "DATABASE_URL", "REDIS_URL"):
        env.pop(f"{name}_FILE", None)
    env.update(
        DJANGO_SETTINGS_MODULE="omni.settings",
        DATABASE_URL=database_url(connection.settings_dict),
        SECRET_KEY=settings.SECRET_KEY,
        FIELD_ENCRYPTION_KEY=settings.FIELD_ENCRYPTION_KEY,
        OMNI_SIGNING_SECRET=settings.OMNI_SIGNING_SECRET,
        OMNI_VAR_DIR=str(settings.VAR_DIR),
    )
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


def runs_of(org) -> list[ScenarioRun]:
    return list(ScenarioRun.objects.for_org(org).order_by("started_at"))


def test_a_shipped_scenario_passes_with_exit_0(committed_world):
    done = manage("run_scenario", "utilities_smoke", "--org", committed_world.slug)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"scenario utilities_smoke for {committed_world.slug}" in done.stdout
    assert "PASS  7. bad_expression (tools/call) [error]" in done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("PASSED: 7 passed")
    (run,) = runs_of(committed_world.org)
    assert (run.status, run.trigger, run.origin, run.username) == (
        "passed",
        "cli",
        "shipped:utilities_smoke",
        "cli:run_scenario",
    )
    assert run.test_runs.count() == 7


def test_a_failing_expectation_exits_1_and_stores_the_outcome(committed_world, tmp_path):
    path = tmp_path / "failing.yaml"
    path.write_text(FAILING)
    done = manage(
        "run_scenario", str(path), "--org", committed_world.slug, "--user", committed_world.member.username
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL  1. add (tools/call) [ok]" in done.stdout
    assert "✗ equals $.structuredContent.result: expected 15, got 14" in done.stdout
    assert "SKIP  2. never (tools/list)" in done.stdout
    assert "scenario cli_failing failed" in done.stderr
    (run,) = runs_of(committed_world.org)
    assert (run.status, run.failed_steps, run.origin, run.user_id) == (
        "failed",
        1,
        f"file:{path}",
        committed_world.member.pk,
    )
    (step,) = TestRun.objects.for_org(committed_world.org).filter(scenario_run=run)
    assert (step.source, step.outcome, step.target) == ("scenario", "ok", "utilities__calculate")
    assert step.response["structuredContent"]["result"] == 14
    assert run.report["steps"][0]["checks"][1]["message"] == "expected 15, got 14"

    fixed = manage("run_scenario", str(path), "--org", committed_world.slug, "--var", "expected=14", "--json")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    report = json.loads(fixed.stdout)
    assert report["status"] == "passed" and report["variables"] == {"expected": 14}


def test_an_invalid_file_exits_2_with_the_error_and_runs_nothing(committed_world, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            name: broken
            steps:
              - name: a
                operation: tools/call
                params: {arguments: {}}
            """
        )
    )
    done = manage("run_scenario", str(path), "--org", committed_world.slug)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "line 5, steps[0].params: 'name' is a required property" in done.stderr
    assert done.stdout == ""
    assert runs_of(committed_world.org) == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--org", "no-such-org-xyz"], "no organization with slug 'no-such-org-xyz'"),
        (["--var", "nope=1"], "unknown variable 'nope'"),
        (["--var", "broken"], "use NAME=VALUE"),
        (["--user", "{outsider}"], "is not a member of"),
        (["--user", "{viewer}"], "not allowed"),
    ],
)
def test_bad_input_is_exit_2(world, extra, message):
    extra = [item.format(outsider=world.outsider.username, viewer=world.viewer.username) for item in extra]
    args = [
        "run_scenario",
        "utilities_smoke",
        *(["--org", world.slug] if "--org" not in extra else []),
        *extra,
    ]
    with pytest.raises(CommandError, match=message) as info:
        call_command(*args)
    assert info.value.returncode == 2
    assert runs_of(world.org) == []


def test_missing_file_is_exit_2(world):
    with pytest.raises(CommandError, match="cannot read the file") as info:
        call_command("run_scenario", "/nonexistent/scenario.yaml", "--org", world.slug)
    assert info.value.returncode == 2


def test_the_operators_command_is_not_rate_limited(committed_world):
    """``manage.py run_scenario`` is for operators with a shell on the server: its steps are not
    charged to the MCP rate limits that scenario runs from the web UI and the API draw from."""
    committed_world.org.settings = {"rate_limits": {"mcp_per_org_per_minute": 1, "mcp_per_key_per_minute": 1}}
    committed_world.org.save()
    done = manage("run_scenario", "utilities_smoke", "--org", committed_world.slug)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("PASSED: 7 passed")
    done = manage(
        "run_scenario",
        "utilities_smoke",
        "--org",
        committed_world.slug,
        "--user",
        committed_world.member.username,
    )
    assert done.returncode == 0, done.stdout + done.stderr
