"""/metrics across processes, after real SDK-client traffic: a granian process with two workers
and a daphne process share one PROMETHEUS_MULTIPROC_DIR, PostgreSQL and Redis; every scrape of
either process counts every call that either served. Sessions open are read from Redis."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.gateway.conftest import connect
from tests.gateway.world import make_tenant
from tests.live import ROOT, ServerProcess, free_port, server_command

pytestmark = pytest.mark.live

QUEUE = f"metrics-test-{uuid.uuid4().hex[:8]}"


class TwoWorkerGranian(ServerProcess):
    def command(self) -> list[str]:
        return server_command("granian", self.app, self.port, workers=2)


@pytest.fixture(scope="module")
def multiproc_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("prometheus-multiproc")


@pytest.fixture(scope="module")
def web_pair(live_server_factory, multiproc_dir):
    env = {
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir),
        "METRICS_ORG_LABEL": "true",
        "METRICS_CELERY_QUEUES": f"celery,{QUEUE}",
    }
    port = free_port()
    granian = TwoWorkerGranian(
        "metrics-granian",
        port,
        {**live_server_factory.env, "OMNI_PUBLIC_URL": f"http://127.0.0.1:{port}", **env},
        live_server_factory.pidfile,
    )
    live_server_factory.servers.append(granian)  # stopped with the session's servers
    granian.start()
    daphne = live_server_factory.start(name="metrics-daphne", env=env, server="daphne")
    return granian, daphne


@pytest.fixture(autouse=True)
async def _close_orm_thread_connections():
    """Close the connection the async ORM opened in asgiref's thread (the test database is dropped
    at the end of the session)."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


def scrape(server) -> dict:
    response = httpx2.get(f"{server.url}/metrics", timeout=15)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def calls(families: dict, org: str, tool: str, outcome: str) -> float:
    total = 0.0
    for sample in families["mcp_server_operation_duration_seconds"].samples:
        labels = sample.labels
        if (
            sample.name == "mcp_server_operation_duration_seconds_count"
            and labels["omni_org"] == org
            and labels["gen_ai_tool_name"] == tool
            and labels["omni_outcome"] == outcome
        ):
            total += sample.value
    return total


async def test_counts_summed_across_processes(web_pair, multiproc_dir, committed):
    from asgiref.sync import sync_to_async

    granian, daphne = web_pair
    tenant = await sync_to_async(make_tenant)("metrics")
    slug = tenant.org.slug
    # A new client (new connection) per call, so granian's workers share the calls between them.
    for i in range(6):
        async with connect(granian.mcp_url, tenant.key) as client:
            result = await client.call_tool("utilities__calculate", {"expression": f"{i}+1"})
            assert not result.is_error
    for i in range(4):
        async with connect(daphne.mcp_url, tenant.key) as client:
            assert not (await client.call_tool("utilities__calculate", {"expression": f"{i}*2"})).is_error
    async with connect(daphne.mcp_url, tenant.key) as client:
        assert (await client.call_tool("knowledge__get_note", {"id": "nope"})).is_error

    for server in (granian, daphne, granian, granian, daphne):
        families = scrape(server)
        assert calls(families, slug, "utilities__calculate", "ok") == 10
        assert calls(families, slug, "knowledge__get_note", "tool_error") == 1
        errors = {s.labels["source"]: s.value for s in families["omni_metrics_scrape_errors"].samples}
        assert errors["sessions"] == 0 and errors["celery_queues"] == 0

    writers = {path.stem.rsplit("_", 1)[-1] for path in multiproc_dir.glob("histogram_*.db")}
    assert len(writers) >= 2, f"one process wrote every sample: {sorted(writers)}"
    print(f"\nprocesses that wrote histogram samples: {len(writers)}")


async def test_sessions_open_from_redis(web_pair, committed, settings):
    from asgiref.sync import sync_to_async

    if not settings.REDIS_URL:
        pytest.skip("sessions shared through Redis need REDIS_URL")
    granian, daphne = web_pair
    tenant = await sync_to_async(make_tenant)("metrics-sessions")
    before = scrape(daphne)["omni_gateway_sessions_open"].samples[0].value
    async with connect(granian.mcp_url, tenant.key, mode="legacy") as client:
        await client.list_tools()
        during = scrape(daphne)["omni_gateway_sessions_open"].samples[0].value
    assert during >= 1, f"no session counted (before: {before})"


def test_remote_address_refused_and_token_admitted(live_server_factory):
    token = uuid.uuid4().hex
    server = live_server_factory.start(
        name="metrics-locked", env={"METRICS_TOKEN": token, "METRICS_ALLOW_CIDRS": "192.0.2.0/24"}
    )
    try:
        response = httpx2.get(f"{server.url}/metrics", timeout=10)
        assert response.status_code == 401 and response.json()["error"] == "unauthorized"
        bearer = {"Authorization": f"Bearer {token}"}
        response = httpx2.get(f"{server.url}/metrics", headers=bearer, timeout=10)
        assert response.status_code == 200
        assert "mcp_server_operation_duration_seconds" in response.text
    finally:
        server.stop()


def task_count(families: dict, task: str, state: str) -> float:
    family = families.get("omni_celery_tasks")  # absent until some process finished a task
    for sample in family.samples if family else ():
        if sample.name == "omni_celery_tasks_total" and sample.labels == {"task": task, "state": state}:
            return sample.value
    return 0.0


def queue_depth(families: dict, queue: str) -> float:
    return next(s.value for s in families["omni_celery_queue_depth"].samples if s.labels["queue"] == queue)


def test_queue_depth_and_a_celery_worker_in_the_same_sums(
    web_pair, multiproc_dir, live_server_factory, settings
):
    """Tasks waiting on the broker show as queue depth; a real Celery worker process that shares
    the multiprocess directory runs them, and the web process's /metrics counts them."""
    import subprocess
    import sys
    import time

    from omni.celery import app

    if not settings.REDIS_URL:
        pytest.skip("a Celery worker needs REDIS_URL")
    granian, daphne = web_pair
    task = "omni.audit.tasks.write_audit_spool"
    for _ in range(3):
        app.send_task(task, queue=QUEUE)
    assert queue_depth(scrape(daphne), QUEUE) == 3
    before = task_count(scrape(daphne), task, "success")

    env = {**live_server_factory.env, "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir)}
    worker = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "omni",
            "worker",
            "--pool",
            "solo",
            "-Q",
            QUEUE,
            "-l",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        families = {}
        for _ in range(120):  # at most ~60 s
            families = scrape(granian)
            if task_count(families, task, "success") >= before + 3:
                break
            time.sleep(0.5)
        assert task_count(families, task, "success") == before + 3
        assert queue_depth(families, QUEUE) == 0
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
