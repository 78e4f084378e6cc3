"""``manage.py load_test`` in the embedded default (no Redis: the shards run in the command's own
process, here this test process; exit status = ``CommandError.returncode``, 0 without one) against
a live gateway process without Redis, on the fault-injecting server. A baseline taken on the
fast server; unchanged runs compared with it pass every time; the same connection slowed
(``--latency fixed:40``) regresses every time; thresholds; and every way of being refused (exit 2)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from omni.loadtest.models import LoadBaseline, LoadRun
from omni.registry.models import ServerConnection
from tests.gateway.world import make_tenant

pytestmark = [pytest.mark.live]

PROFILE = """
name: echo-load
mode: "2026-07-28"
target: gateway
operations:
  - tool: faults__echo
    arguments: {text: load}
    label: echo
arrival: {model: closed, users: 2}
warmup: 1s
duration: 3s
timeout: 5s
# The bound of a regression: this machine is shared (the suite's other processes), so an unchanged
# server's latency drifts by more than the default 10 % between runs; the slowed one is +400 %.
thresholds:
  - "regression <= 50%"
"""


@pytest.fixture(scope="module")
def gateway(live_server_factory):
    """A gateway process without Redis (the embedded default)."""
    server = live_server_factory.start(name="lt-command", env={"REDIS_URL": ""})
    yield server
    server.stop()


@pytest.fixture
def world(committed, gateway, tmp_path, settings):
    settings.REDIS_URL = None
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    tenant = make_tenant("ltcmd", servers=("faults",))
    profile = tmp_path / "echo.yaml"
    profile.write_text(PROFILE)
    return tenant.org, profile


def run_command(gateway, *args: str) -> tuple[int, str, str]:
    """``manage.py load_test ARGS --url <gateway>``: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("load_test", *args, "--url", gateway.url, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return code, out.getvalue(), err.getvalue()


def test_baseline_unchanged_passes_slowed_regresses(world, gateway):
    """(``--raise-limits``: closed-loop users without think time exceed the organization's MCP rate
    limits within seconds, and the 429s would be what is measured.)"""
    org, profile = world

    def load_test(gateway, *args: str) -> tuple[int, str, str]:
        return run_command(gateway, *args, "--raise-limits")

    code, out, err = load_test(gateway, str(profile), "--org", org.slug, "--save-baseline", "fast", "--json")
    assert code == 0, out + err
    first = json.loads(out)
    assert first["status"] == "completed" and first["verdict"] == "passed"
    assert first["report"]["requests"] > 0 and first["report"]["errors"] == 0, first["report"][
        "errors_by_kind"
    ]
    baseline = LoadBaseline.objects.for_org(org).get(name="fast")
    assert str(baseline.run.uuid) == first["run"]

    for _ in range(3):  # the verdict on an unchanged server is stable
        code, out, err = load_test(
            gateway, str(profile), "--org", org.slug, "--compare", "fast", "--fail-on-regression", "--json"
        )
        assert code == 0, out + err
        assert json.loads(out)["verdict"] == "passed"

    connection = ServerConnection.objects.get(organization=org, name="faults")
    connection.args = ["--latency", "fixed:40"]
    connection.save()
    gateway.restart()  # the embedded gateway caches its catalogue per process
    for _ in range(3):  # and so is the verdict on the slowed one
        code, out, err = load_test(
            gateway, str(profile), "--org", org.slug, "--compare", "fast", "--fail-on-regression", "--json"
        )
        assert code == 1, out + err
        result = json.loads(out)
        assert result["verdict"] == "regressed"
        assert result["comparison"]["verdict"] == "regressed"
        assert result["report"]["latency_ms"]["p50"] >= 40
    # without --fail-on-regression a regression is reported, exit 0
    code, out, err = load_test(gateway, str(profile), "--org", org.slug, "--compare", "fast")
    assert code == 0, out + err
    assert "regressed" in out and "regression against the baseline" in err
    # a failed threshold is exit 1 with or without a baseline
    profile.write_text(PROFILE + '  - "p50 <= 10ms"\n')
    code, out, err = load_test(gateway, str(profile), "--org", org.slug)
    assert code == 1, out + err
    assert "thresholds failed" in err
    assert LoadRun.objects.for_org(org).filter(trigger="command").count() == 9


def test_refusals_exit_2_and_nothing_runs(world, gateway, tmp_path):
    org, profile = world
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\noperations: 12\n")
    too_big = tmp_path / "big.yaml"
    too_big.write_text(PROFILE.replace("users: 2", "users: 5000"))
    cases = [
        ([str(bad), "--org", org.slug], "not valid"),
        ([str(profile), "--org", "no-such-org"], "no organization"),
        ([str(profile), "--org", org.slug, "--target", "server:nope"], "refused"),
        ([str(too_big), "--org", org.slug], "refused"),
        (["no-such-profile", "--org", org.slug], "refused"),
        ([str(profile), "--org", org.slug, "--compare", "never-saved"], "no baseline"),
    ]
    for args, message in cases:
        code, out, err = run_command(gateway, *args)
        assert code == 2, (args, out, err)
        assert message in err, (args, err)
    assert not LoadRun.objects.for_org(org).exists()


@pytest.mark.django_db
def test_unknown_organization_in_process():
    with pytest.raises(CommandError) as caught:
        call_command("load_test", "smoke", "--org", "nobody-here")
    assert caught.value.returncode == 2
