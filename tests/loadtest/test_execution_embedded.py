"""The embedded default (no REDIS_URL): a run's shards run in one thread of this process, phase
after phase, publish live ticks, store their results without credentials and merge into the
report; cancel stops them; a failing shard fails the run. The generator is the stub of
tests/loadtest/stub_generator.py (the real one is exercised by test_execution_live.py)."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from omni.loadtest.execution import merge, request_cancel, start_run, wait_for_run
from omni.loadtest.models import LoadRun, LoadShard
from tests.loadtest.execution_world import STUB, make_run, run_and_listen


@pytest.fixture
def embedded(settings):
    settings.REDIS_URL = None
    settings.LOADTEST_GENERATOR = STUB
    yield settings
    for thread in threading.enumerate():  # the shard threads end (and close their connections)
        if thread.name.startswith("loadtest-"):
            thread.join(timeout=30)


def _wait_running(run: LoadRun, count: int) -> None:
    for _ in range(200):  # at most ~20 s
        if run.shards.filter(status=LoadShard.Status.RUNNING).count() >= count:
            return
        time.sleep(0.1)
    pytest.fail("the shards did not start")


def test_phases_run_one_after_the_other_in_one_thread(committed, embedded):
    run = make_run({"main": 2, "direct": 1})
    threads_before = {t.ident for t in threading.enumerate()}
    run, messages = run_and_listen(run)

    assert run.status == LoadRun.Status.COMPLETED, run.error
    assert run.verdict == LoadRun.Verdict.PASSED
    assert (run.shards_done, run.shards_total) == (3, 3)
    shards = {(s.phase, s.index): s for s in run.shards.all()}
    me = f"{socket.gethostname()}:{os.getpid()}"
    for shard in shards.values():
        assert shard.status == LoadShard.Status.COMPLETED
        assert shard.worker == me  # this process ran them
        assert shard.result["operations"]["list"]["count"] > 0
        # the credentials are gone from the stored spec
        assert shard.spec["credentials_cleared"] is True
        assert all(e["headers"] == {} for e in shard.spec["endpoints"])
        assert "lt_secret" not in str(shard.spec)
    main0, main1, direct = shards[("main", 0)], shards[("main", 1)], shards[("direct", 0)]
    # the main phase's two shards ran at the same time, the direct phase after both
    assert main0.started_at < main1.finished_at and main1.started_at < main0.finished_at
    assert direct.started_at >= max(main0.finished_at, main1.finished_at)
    # the report is the merge of the main shards; the direct phase has its own
    expected = merge([main0.result, main1.result])
    for key in ("requests", "errors", "latency_ms", "errors_by_kind", "timeline"):
        assert run.report[key] == expected[key]
    assert run.report["operations"]["echo"]["hist"] == expected["operations"]["echo"]["hist"]
    assert run.report["direct"]["requests"] == sum(op["count"] for op in direct.result["operations"].values())
    assert run.report["requests"] > 0 and run.report["errors"] > 0  # the stub fails 1 in 50
    # live messages: ticks of every shard of both phases, statuses, one finished at the end
    ticks = [m for m in messages if m["type"] == "loadrun.tick"]
    assert {(m["phase"], m["shard"]) for m in ticks} == {("main", 0), ("main", 1), ("direct", 0)}
    assert all({"t", "count", "errors", "p50", "p95", "p99"} <= set(m) for m in ticks)
    statuses = [m for m in messages if m["type"] == "loadrun.status"]
    assert statuses[0]["status"] == "running" and statuses[0]["shards_total"] == 3
    assert [m["shards_done"] for m in statuses if m["status"] == "running"][-1] == 3
    assert messages[-1] == {"type": "loadrun.finished", "status": "completed", "verdict": "passed"}
    # the shard thread ended
    for _ in range(50):
        if not [
            t
            for t in threading.enumerate()
            if t.name.startswith("loadtest-") and t.ident not in threads_before
        ]:
            break
        time.sleep(0.1)
    assert not [t for t in threading.enumerate() if t.name.startswith(f"loadtest-{run.uuid.hex[:8]}")]


def test_cancel_stops_the_shards_and_keeps_the_partial_report(committed, embedded):
    run = make_run({"main": 2, "direct": 1}, duration_s=120)
    start_run(run)
    _wait_running(run, 2)
    # at least one measured second before cancelling (a partial report with data)
    time.sleep(1.5)
    request_cancel(run)
    run = wait_for_run(run, 30)
    assert run.status == LoadRun.Status.CANCELLED
    assert run.verdict == ""
    main = list(run.shards.filter(phase="main"))
    assert all(s.status == LoadShard.Status.CANCELLED and s.result["cancelled"] for s in main)
    assert all(s.result["duration_s"] < 120 for s in main)  # stopped early, not at the end
    direct = run.shards.get(phase="direct")
    assert direct.status == LoadShard.Status.CANCELLED and direct.result == {} and not direct.started_at
    assert run.report["requests"] > 0 and run.report["cancelled"] is True
    assert "direct" not in run.report


def test_a_failing_shard_fails_the_run_and_skips_later_phases(committed, embedded):
    run = make_run({"main": 2, "direct": 1}, overrides={("main", 1): {"stub_raise": "boom in the generator"}})
    start_run(run)
    run = wait_for_run(run, 60)
    assert run.status == LoadRun.Status.FAILED
    assert "shard main/1: RuntimeError: boom in the generator" in run.error
    assert run.verdict == ""
    failed = run.shards.get(phase="main", index=1)
    assert failed.status == LoadShard.Status.FAILED and "boom" in failed.error
    assert failed.spec["credentials_cleared"] is True
    assert run.shards.get(phase="main", index=0).status == LoadShard.Status.COMPLETED
    assert run.shards.get(phase="direct").status == LoadShard.Status.CANCELLED
    assert run.report["requests"] > 0  # what the good shard measured


def test_cancel_before_start_and_start_twice(committed, embedded):
    run = make_run({"main": 1})
    request_cancel(run)
    run.refresh_from_db()
    assert run.status == LoadRun.Status.CANCELLED
    assert run.shards.get().status == LoadShard.Status.CANCELLED
    start_run(run)  # a finished run is not started again
    assert run.shards.get().started_at is None

    other = make_run({"main": 1})
    start_run(other)
    start_run(other)  # idempotent: still one execution
    other = wait_for_run(other, 60)
    assert other.status == LoadRun.Status.COMPLETED
    assert other.shards_done == 1


def test_save_as_baseline_asked_on_the_start_form_is_done_when_the_run_finishes(committed, embedded):
    from omni.loadtest.followups import KEY, request_followups
    from omni.loadtest.models import LoadBaseline

    run = make_run({"main": 1})
    request_followups(run, save_as="when-finished")
    run, _messages = run_and_listen(run)
    assert run.status == LoadRun.Status.COMPLETED and run.verdict == LoadRun.Verdict.PASSED
    baseline = LoadBaseline.objects.for_org(run.organization).get(name="when-finished")
    assert baseline.run_id == run.pk  # nobody opened the run's page
    assert run.spec[KEY]["done"] is True and run.spec[KEY]["outcome"] == "saved"
