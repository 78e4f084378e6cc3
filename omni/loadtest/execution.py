"""Running a load test: phases, shards on Celery workers (or a thread of this process), completion.

A run's shards come in phases (``main``, then ``direct`` when the profile measures the server
alone too). ``start_run`` dispatches the first phase; all shards of a phase run at the same time:

- with ``REDIS_URL`` each shard is one Celery task ``omni.loadtest.tasks.run_shard(shard_id)`` on
  the queue ``settings.LOADTEST_QUEUE``; more workers (on more machines) give more load;
- without it (the embedded default, ``make run``) every shard of the phase runs in ONE background
  thread of this process, on its own event loop (``asyncio.gather``), through the same code.

Running a shard (``execute_shards``): claim it (``queued`` -> ``running``, ``worker`` =
hostname:pid), call the generator's ``run_shard(spec, on_tick=..., is_cancelled=...)``, store the
``ShardResult``, clear the credentials from the stored spec and, under the run's row lock, count it
done. Whoever completes the last shard of a phase starts the next phase or finishes the run
(``omni.loadtest.finishing.finish_run``): exactly once, however many workers race.

Cancelling: ``LoadRun.cancel_requested`` is read from the database at most every
``CANCEL_POLL_S`` seconds per process (in a thread of its own, off the event loop) and handed to the
generator, which stops within a second and returns its partial result; shards not started yet are
skipped (and revoked on the broker). A shard whose worker died is failed by the sweep
(``omni.loadtest.sweeping``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from omni.loadtest import live
from omni.loadtest.finishing import finish_run  # noqa: F401 (part of this module's interface)
from omni.loadtest.merging import merge  # noqa: F401 (part of this module's interface)
from omni.loadtest.models import LoadRun, LoadShard

log = logging.getLogger(__name__)

CANCEL_POLL_S = 0.4
# Known phases in the order they run; any other phase runs after these, in creation order.
PHASE_ORDER = {"main": 0, "direct": 1}
SHARD_FINISHED = (LoadShard.Status.COMPLETED, LoadShard.Status.FAILED, LoadShard.Status.CANCELLED)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def embedded() -> bool:
    """No broker: shards run in a thread of this process (the embedded default)."""
    return not settings.REDIS_URL


def phases_of(run: LoadRun) -> list[str]:
    """The run's phases in the order they run."""
    first_id: dict[str, int] = {}
    for phase, pk in run.shards.order_by("pk").values_list("phase", "pk"):
        first_id.setdefault(phase, pk)
    return sorted(first_id, key=lambda p: (PHASE_ORDER.get(p, len(PHASE_ORDER)), first_id[p]))


def shard_task_id(run: LoadRun, shard_id: int) -> str:
    """The Celery task id of a shard (deterministic: a cancel can revoke it without a lookup)."""
    return f"loadshard-{run.uuid.hex}-{shard_id}"


# ---------------------------------------------------------------------------- starting


def start_run(run: LoadRun) -> None:
    """Start ``run``'s first phase (planning its shards first when it has none). Idempotent: a
    run that is no longer queued is left alone."""
    with transaction.atomic():
        run = LoadRun.objects.select_for_update().get(pk=run.pk)
        if run.status != LoadRun.Status.QUEUED:
            return
        if not run.shards.exists():
            from omni.loadtest.planning import plan_shards

            plan_shards(run)
        run.status = LoadRun.Status.RUNNING
        run.started_at = timezone.now()
        run.shards_total = run.shards.count()
        run.shards_done = run.shards.filter(status__in=SHARD_FINISHED).count()
        run.save(update_fields=["status", "started_at", "shards_total", "shards_done"])
        phases = phases_of(run)
        message = live.status_message(run)
        transaction.on_commit(lambda: live.publish(run.uuid, message))
        if phases:
            transaction.on_commit(lambda: dispatch_phase(run, phases[0]))
        else:
            transaction.on_commit(lambda: finish_run(run))


def dispatch_phase(run: LoadRun, phase: str) -> None:
    """Run every queued shard of ``phase`` at once (Celery tasks, or one thread here)."""
    shard_ids = list(
        run.shards.filter(phase=phase, status=LoadShard.Status.QUEUED)
        .order_by("index")
        .values_list("pk", flat=True)
    )
    if not shard_ids:
        return
    if embedded():
        thread = threading.Thread(
            target=_thread_main, args=(shard_ids,), name=f"loadtest-{run.uuid.hex[:8]}-{phase}", daemon=True
        )
        with _threads_lock:
            _threads[:] = [t for t in _threads if t.is_alive()]
            _threads.append(thread)
        thread.start()
        return
    from omni.loadtest.tasks import run_shard

    for shard_id in shard_ids:
        run_shard.apply_async(
            args=[shard_id], queue=settings.LOADTEST_QUEUE, task_id=shard_task_id(run, shard_id)
        )


_threads: list[threading.Thread] = []
_threads_lock = threading.Lock()


def join_shard_threads(timeout: float) -> bool:
    """Wait (at most ``timeout`` seconds) for this process's shard threads, including those a
    thread started for a later phase; True when none is left. A command that exits while a thread
    still finishes a run (revoking its keys, publishing) would cut it short."""
    deadline = time.monotonic() + timeout
    for _ in range(1000):
        with _threads_lock:
            alive = [t for t in _threads if t.is_alive()]
        if not alive:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        alive[0].join(min(remaining, 1.0))
    return False


def _thread_main(shard_ids: list[int]) -> None:
    try:
        execute_shards(shard_ids)
    except Exception:
        log.exception("loadtest: the shard thread failed")
    finally:
        connections.close_all()


# ---------------------------------------------------------------------------- running shards


@dataclass
class Claimed:
    shard_id: int
    run_id: int
    run_uuid: Any
    phase: str
    index: int
    spec: dict[str, Any]


def execute_shards(shard_ids: list[int]) -> None:
    """Run these shards concurrently on one event loop in this thread, then record each outcome."""
    claimed: list[Claimed] = []
    for shard_id in shard_ids:
        claim = _claim(shard_id)
        if isinstance(claim, Claimed):
            claimed.append(claim)
        elif claim == "cancelled":
            complete_shard(shard_id, LoadShard.Status.CANCELLED, error="cancelled before it started")
    if not claimed:
        return
    close_old_connections()
    outcomes = asyncio.run(_drive(claimed))
    for claim, outcome in zip(claimed, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            error = f"{type(outcome).__name__}: {outcome}"
            complete_shard(claim.shard_id, LoadShard.Status.FAILED, error=error)
        else:
            outcome.setdefault("worker", worker_name())
            status = LoadShard.Status.CANCELLED if outcome.get("cancelled") else LoadShard.Status.COMPLETED
            complete_shard(claim.shard_id, status, result=outcome)


def _claim(shard_id: int) -> Claimed | str | None:
    """Mark the shard running; ``"cancelled"`` when its run was cancelled, None when it is not
    queued any more (a duplicate delivery, or the sweep got there first)."""
    run_id = LoadShard.objects.filter(pk=shard_id).values_list("run_id", flat=True).first()
    if run_id is None:
        return None
    with transaction.atomic():
        run = LoadRun.objects.select_for_update().get(pk=run_id)
        shard = LoadShard.objects.select_for_update().get(pk=shard_id)
        if shard.status != LoadShard.Status.QUEUED:
            return None
        if run.cancel_requested or run.finished:
            return "cancelled"
        shard.status = LoadShard.Status.RUNNING
        shard.worker = worker_name()
        shard.started_at = timezone.now()
        shard.save(update_fields=["status", "worker", "started_at"])
        return Claimed(shard.pk, run.pk, run.uuid, shard.phase, shard.index, dict(shard.spec or {}))


def _cancel_flags(run_ids: set[int]) -> dict[int, bool]:
    """(In the poller's own thread, whose connection is closed when the shards end, or after an
    error so that the next poll reconnects.)"""
    try:
        return dict(LoadRun.objects.filter(pk__in=run_ids).values_list("pk", "cancel_requested"))
    except Exception:
        connections.close_all()
        raise


def _shard_deadline(spec: dict[str, Any]) -> float:
    return (
        float(spec.get("warmup_s") or 0)
        + float(spec.get("duration_s") or 0)
        + settings.LOADTEST_SHARD_GRACE_S
    )


async def _drive(claimed: list[Claimed]) -> list[Any]:
    """Every claimed shard through the generator at once; per shard its ShardResult or exception."""
    generator = import_string(settings.LOADTEST_GENERATOR)
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()
    db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loadtest-db")
    run_ids = {c.run_id for c in claimed}
    flags: dict[int, bool] = {}
    stop = asyncio.Event()
    publishing: set[asyncio.Task] = set()

    async def poll_cancel() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                flags.update(await loop.run_in_executor(db, _cancel_flags, run_ids))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), CANCEL_POLL_S)

    def send(message: dict[str, Any], run_uuid: Any) -> None:
        task = loop.create_task(live.apublish(run_uuid, message))
        publishing.add(task)
        task.add_done_callback(publishing.discard)

    async def one(claim: Claimed) -> Any:
        def on_tick(tick: dict[str, Any]) -> None:
            message = live.tick_message(claim.phase, claim.index, tick)
            if threading.get_ident() == loop_thread:
                send(message, claim.run_uuid)
            else:
                loop.call_soon_threadsafe(send, message, claim.run_uuid)

        def is_cancelled() -> bool:
            return flags.get(claim.run_id, False)

        try:
            return await asyncio.wait_for(
                generator(claim.spec, on_tick=on_tick, is_cancelled=is_cancelled),
                timeout=_shard_deadline(claim.spec),
            )
        except Exception as exc:  # noqa: BLE001 (recorded as the shard's error)
            log.warning("loadtest: shard %s failed", claim.shard_id, exc_info=True)
            return exc

    poller = loop.create_task(poll_cancel())
    try:
        return await asyncio.gather(*(one(c) for c in claimed))
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await poller
        if publishing:
            await asyncio.wait(set(publishing), timeout=5)
        await loop.run_in_executor(db, connections.close_all)
        db.shutdown(wait=True)


def _without_credentials(spec: dict[str, Any]) -> dict[str, Any]:
    spec = dict(spec or {})
    endpoints = []
    for endpoint in spec.get("endpoints") or []:
        endpoints.append({**endpoint, "headers": {}})
    if endpoints:
        spec["endpoints"] = endpoints
    spec["credentials_cleared"] = True
    return spec


# ---------------------------------------------------------------------------- completing shards


def complete_shard(
    shard_id: int, status: str, *, result: dict[str, Any] | None = None, error: str = ""
) -> bool:
    """Record a shard's end and count it done (under the run's row lock); the last shard of a phase
    starts the next phase or finishes the run. Returns False when it had already ended."""
    run_id = LoadShard.objects.filter(pk=shard_id).values_list("run_id", flat=True).first()
    if run_id is None:
        return False
    with transaction.atomic():
        run = LoadRun.objects.select_for_update().get(pk=run_id)
        shard = LoadShard.objects.select_for_update().get(pk=shard_id)
        if shard.status in SHARD_FINISHED:
            return False
        shard.status = status
        shard.result = result or {}
        shard.error = error[:4000]
        shard.finished_at = timezone.now()
        shard.spec = _without_credentials(shard.spec)
        if result and not shard.worker:
            shard.worker = str(result.get("worker", ""))[:200]
        shard.save(update_fields=["status", "result", "error", "finished_at", "spec", "worker"])
        _after_shard(run, shard.phase)
    return True


def _after_shard(run: LoadRun, phase: str) -> None:
    """Inside the run's lock: count, then maybe start the next phase or finish."""
    run.shards_done = run.shards.filter(status__in=SHARD_FINISHED).count()
    run.save(update_fields=["shards_done"])
    message = live.status_message(run)
    transaction.on_commit(lambda: live.publish(run.uuid, message))
    if run.finished or run.shards.filter(phase=phase).exclude(status__in=SHARD_FINISHED).exists():
        return
    phases = phases_of(run)
    later = phases[phases.index(phase) + 1 :] if phase in phases else []
    failed = run.shards.filter(status=LoadShard.Status.FAILED).exists()
    if later and not run.cancel_requested and not failed:
        transaction.on_commit(lambda: dispatch_phase(run, later[0]))
        return
    skipped = run.shards.filter(phase__in=later, status=LoadShard.Status.QUEUED)
    skipped.update(
        status=LoadShard.Status.CANCELLED,
        error="skipped: the run was cancelled"
        if run.cancel_requested
        else "skipped: an earlier phase failed",
        finished_at=timezone.now(),
    )
    run.shards_done = run.shards.filter(status__in=SHARD_FINISHED).count()
    run.save(update_fields=["shards_done"])
    transaction.on_commit(lambda: finish_run(run))


# ---------------------------------------------------------------------------- cancel and wait


def request_cancel(run: LoadRun) -> None:
    """Ask a run to stop: running shards stop within a second (their partial results are kept),
    queued ones are revoked on the broker and skipped; a run none of whose shards started ends now."""
    LoadRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    run.cancel_requested = True
    queued = list(run.shards.filter(status=LoadShard.Status.QUEUED).values_list("pk", flat=True))
    if queued and not embedded():
        with contextlib.suppress(Exception):
            from omni.celery import app

            app.control.revoke([shard_task_id(run, pk) for pk in queued])
    status = LoadRun.objects.filter(pk=run.pk).values_list("status", flat=True).first()
    if status == LoadRun.Status.QUEUED:
        with transaction.atomic():
            locked = LoadRun.objects.select_for_update().get(pk=run.pk)
            if locked.status == LoadRun.Status.QUEUED:
                locked.shards.filter(status=LoadShard.Status.QUEUED).update(
                    status=LoadShard.Status.CANCELLED,
                    error="cancelled before it started",
                    finished_at=timezone.now(),
                )
                transaction.on_commit(lambda: finish_run(locked))


def wait_for_run(run: LoadRun, timeout: float) -> LoadRun:
    """Poll until the run has finished or ``timeout`` seconds passed; returns it fresh either way."""
    deadline = time.monotonic() + timeout
    step = 0.2
    for _ in range(int(timeout / step) + 2):
        run.refresh_from_db()
        if run.finished or time.monotonic() >= deadline:
            break
        time.sleep(step)
    return run
