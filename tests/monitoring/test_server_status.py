"""Downstream server status (issue 8 part 2): the probe finds a real server process up, down after
it is killed (refused) and up again after a restart; uptime and history; two organizations see
only their own (and global) statuses; the probe's categories; the metrics collector."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from omni.gateway import breaker, downstream
from omni.monitoring.models.status import ServerStatus, StatusHour, StatusProbe
from omni.monitoring.status import metrics as status_metrics
from omni.monitoring.status import services
from omni.registry.models import ServerConnection
from tests.gateway.test_containment import BlackHole, serve
from tests.gateway.world import make_tenant
from tests.live import free_port

pytestmark = pytest.mark.live


def _register(org, name: str, port: int, timeout: float = 5.0) -> ServerConnection:
    return ServerConnection.objects.create(
        organization=org,
        name=name,
        transport="streamable_http",
        url=f"http://127.0.0.1:{port}/mcp",
        timeout_seconds=timeout,
    )


def _probe(conn: ServerConnection) -> services.ProbeResult:
    (result,) = services.probe_all(jitter=0, connection_ids=[conn.pk])
    return result


@pytest.fixture(autouse=True)
def _fresh_breakers():
    breaker.reset()
    yield
    breaker.reset()


def test_a_server_that_is_stopped_goes_down_and_comes_back_up(committed, settings):
    settings.STATUS_DEGRADED_LATENCY_SECONDS = 30  # a loaded machine is not "slow" here
    tenant = make_tenant("status", servers=())
    port = free_port()
    process = serve(port)
    conn = _register(tenant.org, "probed", port)
    try:
        first = _probe(conn)
        assert first.state == "up", first
        assert first.tool_count and first.tool_count >= 5  # echo, hang, hold, await_release, big, count…
        assert len(first.listing_hash) == 64
        assert services.current_state(conn.pk) == "up"
        assert services.down_since(conn.pk) is None

        process.kill()
        process.wait()
        down = _probe(conn)
        assert down.state == "down"
        assert down.error_category == "refused", down
        assert services.current_state(conn.pk) == "down"
        since = services.down_since(conn.pk)
        assert since is not None
        status = ServerStatus.objects.get(connection=conn)
        assert status.consecutive_failures == 1 and status.error

        process = serve(port)
        again = _probe(conn)
        assert again.state == "up", again
        assert again.listing_hash == first.listing_hash  # same server, same listing: not "changed"
        assert services.current_state(conn.pk) == "up"
        assert services.down_since(conn.pk) is None

        states = list(StatusProbe.objects.for_org(tenant.org).filter(connection=conn).order_by("at"))
        assert [p.state for p in states] == ["up", "down", "up"]
        uptime = services.uptime(tenant.org, conn.pk)
        assert uptime["24h"] == pytest.approx(100 * 2 / 3, abs=0.01)
        assert uptime["7d"] == uptime["24h"] and uptime["30d"] == uptime["24h"]
        (bucket,) = StatusHour.objects.filter(connection=conn)
        assert (bucket.probes, bucket.up) == (3, 2)
    finally:
        process.kill()
        conn.delete()


def test_a_slow_answer_is_degraded_and_a_changed_listing_is_noticed(committed, settings):
    tenant = make_tenant("degraded", servers=())
    port = free_port()
    process = serve(port)
    conn = _register(tenant.org, "slowish", port)
    try:
        settings.STATUS_DEGRADED_LATENCY_SECONDS = 0.0001
        slow = _probe(conn)
        assert (slow.state, slow.error_category) == ("degraded", "slow")
        settings.STATUS_DEGRADED_LATENCY_SECONDS = 30
        ServerStatus.objects.filter(connection=conn).update(listing_hash="0" * 64)
        changed = _probe(conn)
        assert (changed.state, changed.error_category) == ("degraded", "listing_changed")
        assert _probe(conn).state == "up"  # the new listing is the known one now
        assert services.uptime(tenant.org, conn.pk)["24h"] == 100.0  # degraded still answers
    finally:
        process.kill()
        conn.delete()


def test_a_black_holed_server_is_down_with_timeout_within_the_probe_deadline(committed, settings):
    settings.STATUS_PROBE_TIMEOUT_SECONDS = 1.0
    tenant = make_tenant("hole", servers=())
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never answers
    conn = _register(tenant.org, "hole", listener.getsockname()[1], timeout=60)
    try:
        result = _probe(conn)
        assert (result.state, result.error_category) == ("down", "timeout"), result
    finally:
        listener.close()
        conn.delete()


def test_statuses_are_scoped_to_the_organization(committed, settings):
    settings.STATUS_DEGRADED_LATENCY_SECONDS = 30
    acme = make_tenant("acme", servers=())
    globex = make_tenant("globex", servers=())
    port = free_port()
    process = serve(port)
    mine = _register(acme.org, "shared-name", port)
    theirs = _register(globex.org, "shared-name", free_port())  # nobody listens: down
    try:
        results = {
            r.connection_id: r for r in services.probe_all(jitter=0, connection_ids=[mine.pk, theirs.pk])
        }
        assert results[mine.pk].state == "up" and results[theirs.pk].state == "down"
        seen_by_acme = services.statuses_for(acme.org, [mine.pk, theirs.pk])
        assert set(seen_by_acme) == {mine.pk}
        assert services.uptime(acme.org, theirs.pk) == {"24h": None, "7d": None, "30d": None}
        assert services.history(acme.org, theirs.pk) == []
        assert [p.state for p in services.history(globex.org, theirs.pk)] == ["down"]
    finally:
        process.kill()
        mine.delete()
        theirs.delete()


def test_the_task_is_scheduled_and_bounded_by_settings(settings):
    from omni.celery import app
    from omni.monitoring.status.tasks import probe_servers

    entry = settings.CELERY_BEAT_SCHEDULE["probe-server-status"]
    assert entry["task"] == probe_servers.name
    assert entry["schedule"] == settings.STATUS_PROBE_INTERVAL_SECONDS
    app.loader.import_default_modules()
    assert probe_servers.name in app.tasks


def test_concurrency_is_bounded(committed, settings, monkeypatch):
    """Six black holes, concurrency 2, a 1 s probe deadline: never more than 2 probes in flight
    (counted around the real probe), and every hole found down."""
    settings.STATUS_PROBE_TIMEOUT_SECONDS = 1.0
    settings.STATUS_PROBE_CONCURRENCY = 2
    tenant = make_tenant("bound", servers=())
    holes = [BlackHole() for _ in range(6)]
    conns = [_register(tenant.org, f"hole{n}", hole.port, timeout=60) for n, hole in enumerate(holes)]
    real = services.probe_connection
    flight = {"now": 0, "peak": 0}

    async def counted(conn, previous_hash=""):
        flight["now"] += 1
        flight["peak"] = max(flight["peak"], flight["now"])
        try:
            return await real(conn, previous_hash)
        finally:
            flight["now"] -= 1

    monkeypatch.setattr(services, "probe_connection", counted)
    try:
        results = services.probe_all(jitter=0, connection_ids=[c.pk for c in conns])
        assert [r.state for r in results] == ["down"] * 6
        assert {r.error_category for r in results} == {"timeout"}
        print(f"\npeak probes in flight: {flight['peak']} (bound 2)")
        assert flight["peak"] == 2
    finally:
        for hole in holes:
            hole.close()
        for conn in conns:
            conn.delete()


def test_metrics_collector(committed, settings):
    settings.STATUS_DEGRADED_LATENCY_SECONDS = 30
    tenant = make_tenant("metrics", servers=())
    name = f"m{tenant.org.pk}"
    conn = _register(tenant.org, name, free_port())  # nobody listens
    try:
        _probe(conn)

        class Collector:
            def collect(self):
                return status_metrics.collect()

        for with_org in (False, True):
            settings.METRICS_ORG_LABEL = with_org
            registry = CollectorRegistry()
            registry.register(Collector())
            text = generate_latest(registry).decode()
            families = {f.name: f for f in text_string_to_metric_families(text)}
            ups = [s for s in families["omni_downstream_up"].samples if s.labels["server"] == name]
            assert [s.value for s in ups] == [0.0]
            assert ("organization" in ups[0].labels) is with_org
            if with_org:
                assert ups[0].labels["organization"] == tenant.org.slug
            states = {
                s.labels["state"]: s.value
                for s in families["omni_downstream_state"].samples
                if s.labels["server"] == name
            }
            assert states == {"up": 0.0, "degraded": 0.0, "down": 1.0, "unknown": 0.0}
    finally:
        conn.delete()


# --------------------------------------------------------------------------- the breaker, in-process
def _target(conn: ServerConnection) -> downstream.Target:
    return downstream.Target.from_connection(conn)


def test_the_breaker_is_per_connection_and_a_probe_closes_it(committed, settings):
    """acme's breaker opens after N failures and refuses without a network attempt; globex's
    connection to the same server is not affected; a successful probe (the half-open trial) closes
    it."""
    settings.MCP_BREAKER_FAILURES = 2
    settings.MCP_BREAKER_COOLDOWN_SECONDS = 600
    acme = make_tenant("bra", servers=())
    globex = make_tenant("brg", servers=())
    port = free_port()
    process = serve(port)
    a = _register(acme.org, "brk", port)
    g = _register(globex.org, "brk", port)
    try:
        ta, tg = _target(a), _target(g)

        async def scenario() -> None:
            for _ in range(2):
                await breaker.failure(ta, "unreachable", "test")
            assert breaker.is_open(a.pk) and not breaker.is_open(g.pk)
            with pytest.raises(downstream.DownstreamError) as caught:
                await downstream.call_tool(ta, "echo", {"text": "x"}, acme.org.slug)
            assert caught.value.kind == "circuit_open"
            assert "server 'brk'" in str(caught.value) and "circuit breaker" in str(caught.value)
            result = await downstream.call_tool(tg, "echo", {"text": "other org"}, globex.org.slug)
            assert result.content[0].text == "other org"
            await downstream.probe(ta)  # the half-open trial
            assert not breaker.is_open(a.pk)
            result = await downstream.call_tool(ta, "echo", {"text": "back"}, acme.org.slug)
            assert result.content[0].text == "back"
            downstream.close_pool()

        asyncio.run(scenario())
    finally:
        process.kill()
        a.delete()
        g.delete()


def test_a_redis_outage_never_fails_a_call(committed, settings, monkeypatch):
    """REDIS_URL points at a port nobody listens on: the breaker still counts, opens and closes
    in this process, and no call sees a Redis error."""
    settings.MCP_BREAKER_FAILURES = 2
    settings.MCP_BREAKER_SYNC_SECONDS = 0
    tenant = make_tenant("redisout", servers=())
    port = free_port()
    process = serve(port)
    conn = _register(tenant.org, "rout", port)
    try:
        target = _target(conn)
        dead = f"redis://127.0.0.1:{free_port()}/0"
        monkeypatch.setattr(breaker, "_url", lambda: dead)  # the breaker's Redis only

        async def scenario() -> None:
            result = await downstream.call_tool(target, "echo", {"text": "ok"}, tenant.org.slug)
            assert result.content[0].text == "ok"
            for _ in range(2):
                await breaker.failure(target, "timeout", "test")
            assert breaker._redis_down_until > 0  # it did try Redis, and fell back
            assert breaker.is_open(conn.pk)
            with pytest.raises(downstream.DownstreamError) as caught:
                await downstream.call_tool(target, "echo", {"text": "x"}, tenant.org.slug)
            assert caught.value.kind == "circuit_open"
            await downstream.probe(target)
            assert not breaker.is_open(conn.pk)
            downstream.close_pool()

        asyncio.run(scenario())
    finally:
        process.kill()
        conn.delete()


def test_a_timeout_counts_and_a_half_open_trial_that_fails_reopens(committed, settings):
    settings.MCP_BREAKER_FAILURES = 2
    settings.MCP_BREAKER_COOLDOWN_SECONDS = 0.5
    tenant = make_tenant("brt", servers=())
    port = free_port()
    process = serve(port)
    conn = _register(tenant.org, "brt", port, timeout=0.5)
    try:
        target = _target(conn)

        async def scenario() -> None:
            for _ in range(2):
                with pytest.raises(downstream.DownstreamError) as caught:
                    await downstream.call_tool(target, "hang", {}, tenant.org.slug)
                assert caught.value.kind == "timeout"
            assert breaker.is_open(conn.pk)
            await asyncio.sleep(0.6)  # the cool-down (a precondition, not a timing assertion)
            with pytest.raises(downstream.DownstreamError) as caught:  # the trial: fails again
                await downstream.call_tool(target, "hang", {}, tenant.org.slug)
            assert caught.value.kind == "timeout"
            with pytest.raises(downstream.DownstreamError) as caught:  # open again at once
                await downstream.call_tool(target, "echo", {"text": "x"}, tenant.org.slug)
            assert caught.value.kind == "circuit_open"
            await asyncio.sleep(0.6)
            result = await downstream.call_tool(target, "echo", {"text": "trial"}, tenant.org.slug)
            assert result.content[0].text == "trial"
            assert not breaker.is_open(conn.pk)
            downstream.close_pool()

        asyncio.run(scenario())
    finally:
        process.kill()
        conn.delete()


# --------------------------------------------------------------------------- a real Celery worker
def test_the_probe_runs_in_a_real_celery_worker(committed, live_server_factory, settings):
    if not settings.REDIS_URL:
        pytest.skip("a Celery worker needs REDIS_URL")
    from omni.monitoring.status.tasks import probe_servers

    tenant = make_tenant("celery", servers=())
    port = free_port()
    process = serve(port)
    conn = _register(tenant.org, "viacelery", port)
    env = {
        **live_server_factory.env,
        "STATUS_PROBE_TIMEOUT_SECONDS": "3",
        "STATUS_DEGRADED_LATENCY_SECONDS": "60",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "omni", "worker", "--pool=solo", "--loglevel=WARNING"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        probe_servers.delay(0)
        for _ in range(300):  # bounded: up to ~60 s for the worker to start and probe
            if ServerStatus.objects.filter(connection=conn).exists():
                break
            time.sleep(0.2)
        assert services.current_state(conn.pk) == "up"
        process.kill()
        process.wait()
        before = StatusProbe.objects.filter(connection=conn).count()
        probe_servers.delay(0)
        for _ in range(300):
            if StatusProbe.objects.filter(connection=conn).count() > before:
                break
            time.sleep(0.2)
        assert services.current_state(conn.pk) == "down"
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
        process.kill()
        conn.delete()
