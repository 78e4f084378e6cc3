"""Shards on two real Celery worker processes (PostgreSQL + Redis): both run a shard at the same
time, the merged histograms equal the histograms of the union of the shards' samples, the worker
that completes the last shard dispatches the next phase, and cancel stops the workers' shards.
The generator here is the stub (tests/loadtest/stub_generator.py): the subject is the execution
machinery; test_execution_live.py runs the real generator through a live gateway."""

from __future__ import annotations

import time
import uuid

import pytest

from omni.loadtest import hdr
from omni.loadtest.execution import request_cancel, start_run, wait_for_run
from omni.loadtest.models import LoadRun, LoadShard
from tests.loadtest.execution_world import STUB, make_run, run_and_listen
from tests.loadtest.workers import Workers

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def stub_workers(live_server_factory):
    from django.conf import settings

    if not settings.REDIS_URL:
        pytest.fail("Celery workers need REDIS_URL (PostgreSQL + Redis)")
    queue = f"loadtest-{uuid.uuid4().hex[:8]}"
    workers = Workers({**live_server_factory.env, "LOADTEST_GENERATOR": STUB}, queue, 2).start()
    yield workers
    workers.stop()


@pytest.fixture
def on_workers(settings, stub_workers):
    settings.LOADTEST_QUEUE = stub_workers.queue
    settings.LOADTEST_GENERATOR = STUB
    return stub_workers


def _union_hist(values):
    histogram = hdr.new_histogram()
    for value in values:
        hdr.record_us(histogram, value)
    return hdr.encode(histogram)


def test_two_workers_run_the_shards_of_each_phase(committed, on_workers):
    run = make_run({"main": 2, "direct": 2}, duration_s=3)
    run, messages = run_and_listen(run, 90)
    assert run.status == LoadRun.Status.COMPLETED, f"{run.error}\n{on_workers.output()}"
    shards = list(run.shards.order_by("phase", "index"))
    assert all(s.status == LoadShard.Status.COMPLETED for s in shards)
    for phase in ("main", "direct"):
        workers = {s.worker for s in shards if s.phase == phase}
        assert len(workers) == 2, workers  # each shard of the phase on its own worker process
        assert all(s.result["worker"] in workers for s in shards if s.phase == phase)
    main = [s for s in shards if s.phase == "main"]
    assert main[0].started_at < main[1].finished_at and main[1].started_at < main[0].finished_at
    assert min(s.started_at for s in shards if s.phase == "direct") >= max(s.finished_at for s in main)
    for label in ("list", "echo"):
        union = [v for s in main for v in s.result["operations"][label]["samples"]]
        assert run.report["operations"][label]["hist"] == _union_hist(union)
        assert run.report["operations"][label]["count"] == len(union)
        direct_union = [
            v for s in shards if s.phase == "direct" for v in s.result["operations"][label]["samples"]
        ]
        assert run.report["direct"]["operations"][label]["hist"] == _union_hist(direct_union)
    assert run.report["requests"] == sum(
        len(s.result["operations"][k]["samples"]) for s in main for k in ("list", "echo")
    )
    assert all(s.spec["credentials_cleared"] for s in shards)
    # the workers published the live ticks of every shard, and the finish
    ticks = {(m["phase"], m["shard"]) for m in messages if m["type"] == "loadrun.tick"}
    assert ticks == {("main", 0), ("main", 1), ("direct", 0), ("direct", 1)}
    assert messages[-1]["type"] == "loadrun.finished" and messages[-1]["status"] == "completed"


def test_cancel_stops_the_workers_shards(committed, on_workers):
    run = make_run({"main": 2, "direct": 2}, duration_s=120)
    start_run(run)
    for _ in range(300):  # at most ~30 s
        if run.shards.filter(phase="main", status=LoadShard.Status.RUNNING).count() == 2:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the shards did not start on the workers\n{on_workers.output()}")
    time.sleep(1.5)  # a measured second or so
    request_cancel(run)
    run = wait_for_run(run, 30)
    assert run.status == LoadRun.Status.CANCELLED, on_workers.output()
    main = list(run.shards.filter(phase="main"))
    assert len({s.worker for s in main}) == 2
    assert all(s.status == LoadShard.Status.CANCELLED and s.result["cancelled"] for s in main)
    assert all(s.result["duration_s"] < 120 for s in main)
    assert set(run.shards.filter(phase="direct").values_list("status", flat=True)) == {"cancelled"}
    assert not run.shards.filter(phase="direct", started_at__isnull=False).exists()
    assert run.report["requests"] > 0 and run.report["cancelled"] is True
