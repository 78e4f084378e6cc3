"""Celery task of the usage rollup (scheduled by ``CELERY_BEAT_SCHEDULE["usage-rollup"]``)."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task


@shared_task(name="omni.monitoring.usage.tasks.rollup_usage", ignore_result=True)
def rollup_usage() -> dict:
    from omni.monitoring.usage.rollup import rollup

    return asdict(rollup())
