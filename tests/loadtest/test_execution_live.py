"""End to end with the real parts: the profiles part creates the run (keys, shards), the real
generator sends MCP requests to a live gateway process, the analysis part gives the verdict.

- on PostgreSQL + Redis with two real Celery workers: the smoke profile's two shards run on both
  workers and the merged histograms equal the histograms of the union of the shards' samples;
- in the embedded default (no Redis anywhere: the gateway process and this one): the shards run
  in a thread of this process, and a run that measures the server directly too reports the
  gateway's overhead.
"""

from __future__ import annotations

import uuid

import pytest

from omni.loadtest import hdr
from omni.loadtest.execution import start_run, wait_for_run
from omni.loadtest.models import LoadRun, LoadShard
from tests.gateway.world import make_tenant
from tests.loadtest.workers import Workers

pytestmark = [pytest.mark.live]

SMOKE = """
name: smoke-all-samples
mode: "2026-07-28"
target: gateway
operations:
  - tools/list
  - tool: utilities__calculate
    arguments: {expression: "{{ random.int(1, 100) }} * 2"}
    label: calculate
arrival: {model: closed, users: 2, think: 20ms}
warmup: 1s
duration: 3s
timeout: 5s
shards: 2
samples: 100000
thresholds:
  - "error_rate <= 1%"
"""


def _hist(values):
    histogram = hdr.new_histogram()
    for value in values:
        hdr.record_us(histogram, value)
    return hdr.encode(histogram)


@pytest.fixture(scope="module")
def real_workers(live_server_factory):
    from django.conf import settings

    if not settings.REDIS_URL:
        pytest.fail("Celery workers need REDIS_URL (PostgreSQL + Redis)")
    workers = Workers(dict(live_server_factory.env), f"loadtest-{uuid.uuid4().hex[:8]}", 2).start()
    yield workers
    workers.stop()


def test_smoke_through_the_gateway_on_two_celery_workers(committed, live_server, real_workers, settings):
    from omni.loadtest.services import create_run

    settings.LOADTEST_QUEUE = real_workers.queue
    tenant = make_tenant("ltwork", servers=("utilities",))
    run = create_run(tenant.org, SMOKE, trigger="command", base_url=live_server.url)
    assert run.shards.count() == 2
    start_run(run)
    run = wait_for_run(run, 120)
    assert run.status == LoadRun.Status.COMPLETED, f"{run.error}\n{real_workers.output()}"
    assert run.verdict == LoadRun.Verdict.PASSED, run.report.get("thresholds")
    shards = list(run.shards.order_by("index"))
    assert all(s.status == LoadShard.Status.COMPLETED for s in shards)
    assert len({s.worker for s in shards}) == 2  # one shard on each worker process
    assert run.report["requests"] > 0 and run.report["errors"] == 0, run.report.get("errors_by_kind")
    for label in ("tools/list", "calculate"):
        parts = [s.result["operations"][label] for s in shards]
        union = [v for part in parts for v in part["samples"]]
        assert len(union) == sum(part["count"] for part in parts)  # every latency kept
        assert run.report["operations"][label]["hist"] == _hist(union)
        assert run.report["operations"][label]["count"] == len(union)
    assert run.report["orgs"][tenant.org.slug]["count"] == run.report["requests"]
    assert all("Bearer" not in str(s.spec) for s in shards)


@pytest.fixture
def embedded_server(live_server_factory, settings):
    """A gateway process and this process without Redis: the embedded default."""
    settings.REDIS_URL = None
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    server = live_server_factory.start(name="lt-embedded", env={"REDIS_URL": ""})
    yield server
    server.stop()


def test_embedded_default_and_the_gateway_overhead(committed, embedded_server, settings):
    from omni.loadtest.services import create_run

    tenant = make_tenant("ltemb", servers=("utilities",))
    # The direct phase sends the server alone its own tool names ("calculate", not the gateway's
    # "utilities__calculate"): every operation is compared.
    profile = SMOKE.replace("shards: 2", "shards: 2\ndirect: utilities")
    run = create_run(tenant.org, profile, trigger="command", base_url=embedded_server.url)
    assert set(run.shards.values_list("phase", flat=True)) == {"main", "direct"}
    start_run(run)
    run = wait_for_run(run, 120)
    assert run.status == LoadRun.Status.COMPLETED, run.error
    shards = list(run.shards.all())
    assert len({s.worker for s in shards}) == 1  # all in this process
    assert run.report["requests"] > 0 and run.report["errors"] == 0, run.report.get("errors_by_kind")
    direct = run.report["direct"]
    assert direct["requests"] > 0 and direct["errors"] == 0, (
        direct["errors_by_kind"],
        direct["operations"].keys(),
    )
    assert direct["operations"]["calculate"]["count"] > 0
    assert set(run.report["overhead"]["operations"]) >= {"tools/list", "calculate"}
    overhead = run.report["overhead"]["overall"]
    assert overhead["p50_ms"]["gateway"] == run.report["latency_ms"]["p50"]
    assert overhead["p50_ms"]["direct"] == run.report["direct"]["latency_ms"]["p50"]
    assert overhead["throughput"]["ratio"] > 0


MULTI = """
name: noisy-neighbour
mode: "2026-07-28"
target: gateway
operations:
  - tool: utilities__calculate
    arguments: {expression: "{{ random.int(1, 100) }} + 1"}
    label: calculate
arrival: {model: open, rate: 36}
warmup: 1s
duration: 3s
timeout: 5s
shards: 2
organizations:
  - {org: NOISY, weight: 10}
  - {org: QUIET1, weight: 1}
  - {org: QUIET2, weight: 1}
"""


def test_multi_tenant_load_reports_each_organization_and_fairness(
    committed, live_server, real_workers, settings
):
    """One organization at 10x the others' weight, on two workers: per-organization results,
    shares that follow the weights, Jain's index, and the quiet organizations unharmed."""
    from omni.loadtest.services import create_run

    settings.LOADTEST_QUEUE = real_workers.queue
    noisy, quiet1, quiet2 = (
        make_tenant(p, servers=("utilities",)) for p in ("ltnoisy", "ltquiet", "ltquiet")
    )
    profile = (
        MULTI.replace("NOISY", noisy.org.slug)
        .replace("QUIET1", quiet1.org.slug)
        .replace("QUIET2", quiet2.org.slug)
    )
    run = create_run(noisy.org, profile, trigger="command", base_url=live_server.url)
    start_run(run)
    run = wait_for_run(run, 120)
    assert run.status == LoadRun.Status.COMPLETED, f"{run.error}\n{real_workers.output()}"
    orgs = run.report["orgs"]
    assert set(orgs) == {noisy.org.slug, quiet1.org.slug, quiet2.org.slug}
    total = sum(orgs[slug]["count"] for slug in orgs)
    assert total == run.report["requests"] > 50
    assert all(orgs[slug]["count"] > 0 for slug in orgs)
    share = orgs[noisy.org.slug]["count"] / total
    assert 10 / 12 - 0.12 <= share <= 10 / 12 + 0.12, share  # weighted choice of ~100 requests
    fairness = run.report["fairness"]
    assert fairness["jain_index"] is not None and fairness["jain_index"] >= 0.9, fairness
    neighbour = fairness["noisy_neighbour"]
    assert neighbour["noisy"] == [noisy.org.slug]
    assert set(neighbour["quiet"]) == {quiet1.org.slug, quiet2.org.slug}
    assert neighbour["isolated"] is True, neighbour
