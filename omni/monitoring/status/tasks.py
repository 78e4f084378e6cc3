"""The periodic status probe (CELERY_BEAT_SCHEDULE["probe-server-status"])."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="omni.monitoring.status.tasks.probe_servers", ignore_result=True)
def probe_servers(jitter: float | None = None) -> dict[str, int]:
    """Probe every enabled server connection once; returns how many are in each state."""
    from omni.monitoring.status.services import probe_all

    counts: dict[str, int] = {}
    for result in probe_all(jitter=jitter):
        counts[result.state] = counts.get(result.state, 0) + 1
    return counts
