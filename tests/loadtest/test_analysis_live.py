"""The regression verdict end to end, with every real part: the profiles part creates the runs,
the real generator sends MCP requests through a live gateway process (the embedded default: no
Redis, the shards in a thread of this process) to the fault-injecting built-in server, the
execution part merges, and the analysis compares each run with a baseline taken before.

One organization has two connections to the faults server: ``steady`` (20 ms per call) and
``slowed`` (the same server made 60 ms slower by its connection's settings). The profile sends one
operation labelled ``echo`` to one or the other. Repeated runs against the steady connection are
never flagged; repeated runs against the slowed one always are; the regression opens one incident
and the next steady run resolves it. No wall-clock time is asserted: only verdicts."""

from __future__ import annotations

import time

import pytest

from omni.loadtest.analysis import save_baseline
from omni.loadtest.analysis.alerts import active_incident, dedupe_key
from omni.loadtest.models import LoadRun
from omni.monitoring.models.alerts import Incident
from omni.registry.models import ServerConnection
from tests.gateway.world import make_tenant

pytestmark = pytest.mark.live

REPEATS = 3
PROFILE = """
name: faults-regression
mode: "2026-07-28"
target: gateway
operations:
  - tool: {connection}__echo
    arguments: {{text: "load-{{{{ seq }}}}"}}
    label: echo
arrival: {{model: closed, users: 2}}
warmup: 1s
duration: 4s
timeout: 10s
shards: 1
thresholds:
  - "error_rate <= 1%"
  - "regression <= 50%"
"""


@pytest.fixture
def embedded_server(live_server_factory, settings):
    """A gateway process and this process without Redis: the embedded default."""
    settings.REDIS_URL = None
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    server = live_server_factory.start(name="lt-analysis", env={"REDIS_URL": ""})
    yield server
    server.stop()


def _run(org, connection: str, server) -> LoadRun:
    from omni.loadtest.execution import start_run, wait_for_run
    from omni.loadtest.services import create_run

    # As an operator from a terminal, with the per-minute MCP limits lifted for the run: the verdict
    # is about the server's latency, not about 429s.
    run = create_run(
        org, PROFILE.format(connection=connection), trigger="command", raise_limits=True, base_url=server.url
    )
    start_run(run)
    run = wait_for_run(run, 180)
    assert run.status == LoadRun.Status.COMPLETED, run.error
    assert run.report["errors"] == 0, run.report.get("errors_by_kind")
    assert not run.report.get("analysis_errors"), run.report["analysis_errors"]
    return run


def _incident_when(run: LoadRun, done) -> Incident | None:
    """The run's incident once ``done(incident)`` holds: the execution part opens or resolves it
    right after the run's finish commits, maybe a moment after ``wait_for_run`` saw the status
    (bounded: 150 polls, about 30 s)."""
    incident = None
    for _ in range(150):
        incident = (
            Incident.objects.owned_by(run.organization)
            .filter(dedupe_key=dedupe_key(run.organization_id, run.profile_name, run.target))
            .order_by("-opened_at")
            .first()
        )
        if incident is not None and done(incident):
            return incident
        time.sleep(0.2)
    return incident


def test_a_slowed_server_is_flagged_against_its_baseline_and_an_unchanged_one_is_not(
    committed, embedded_server
):
    tenant = make_tenant("ltreg", servers=())
    for name, latency in (("steady", "fixed:20"), ("slowed", "fixed:80")):
        ServerConnection.objects.create(
            organization=tenant.org,
            name=name,
            transport="inprocess",
            target="faults",
            args=["--latency", latency],
            enabled=True,
            timeout_seconds=10,
        )

    first = _run(tenant.org, "steady", embedded_server)
    assert first.verdict == LoadRun.Verdict.PASSED and first.comparison == {}  # nothing to compare with
    baseline = save_baseline(first)
    assert baseline.name == "faults-regression:gateway"

    unchanged = [_run(tenant.org, "steady", embedded_server) for _ in range(REPEATS)]
    for run in unchanged:
        echo = run.comparison["operations"]["echo"]
        assert run.comparison["baseline"]["run"] == str(first.uuid)
        assert echo["verdict"] == "same", echo["reasons"]
        assert run.verdict == LoadRun.Verdict.PASSED, run.comparison
    assert active_incident(unchanged[-1]) is None

    slowed = [_run(tenant.org, "slowed", embedded_server) for _ in range(REPEATS)]
    for run in slowed:
        echo = run.comparison["operations"]["echo"]
        assert echo["verdict"] == "slower", echo["reasons"]
        assert echo["mann_whitney"]["p_value"] < 0.01 and echo["effect_size"]["magnitude"] == "large"
        assert echo["latency_ms"]["p50"]["ci_ms"][0] > echo["latency_ms"]["p50"]["bound_ms"]
        assert run.comparison["throughput"]["verdict"] == "lower"  # 2 closed-loop users, slower answers
        assert run.verdict == LoadRun.Verdict.REGRESSED
    runs = [str(r.uuid) for r in slowed]
    incident = _incident_when(slowed[-1], lambda i: i.evidence.get("runs") == runs)
    assert incident is not None and incident.state == "open" and incident.evidence["runs"] == runs
    assert "slower: echo" in incident.title

    recovered = _run(tenant.org, "steady", embedded_server)
    assert recovered.verdict == LoadRun.Verdict.PASSED, recovered.comparison
    incident = _incident_when(recovered, lambda i: i.state == "resolved")
    assert incident.state == "resolved" and str(recovered.uuid) in incident.resolution
