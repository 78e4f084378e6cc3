"""The daily cleanup: ``CELERY_BEAT_SCHEDULE["apply-retention"]`` (settings)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from omni.privacy.models import RetentionRun


@shared_task(name="omni.privacy.retention.tasks.apply_retention_task", ignore_result=True)
def apply_retention_task() -> dict[str, Any]:
    """Apply every retention class to every organization; returns the counts per class."""
    from omni.privacy.retention.engine import apply_retention

    summary = apply_retention(trigger=RetentionRun.Trigger.BEAT)
    return {"run_id": str(summary.run_id), "deleted": summary.by_class()}
