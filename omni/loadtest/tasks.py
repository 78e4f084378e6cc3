"""Celery tasks of the load tester: one task per shard (queue ``LOADTEST_QUEUE``), and the two
periodic ones of beat (scheduled profiles, the sweep of lost shards)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="omni.loadtest.tasks.run_shard", ignore_result=True, acks_late=False)
def run_shard(shard_id: int) -> None:
    """Run one shard (a duplicate delivery of a shard that is no longer queued does nothing)."""
    from omni.loadtest.execution import execute_shards

    execute_shards([shard_id])


@shared_task(name="omni.loadtest.tasks.run_scheduled_profiles", ignore_result=True)
def run_scheduled_profiles() -> list[str]:
    """Start the runs of the profiles whose cron schedule is due."""
    from omni.loadtest.scheduling import run_scheduled_profiles as run_due

    return run_due()


@shared_task(name="omni.loadtest.tasks.sweep_load_shards", ignore_result=True)
def sweep_load_shards() -> dict[str, int]:
    """Fail shards whose worker was lost, cancel or fail shards nobody took, finish orphaned runs."""
    from omni.loadtest.sweeping import sweep

    return sweep()
