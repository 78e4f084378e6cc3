"""Celery tasks of alerting: the periodic evaluation (beat: ``evaluate-alert-rules``) and one task
per notification delivery (its retries are scheduled by ``services.deliver``)."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="omni.monitoring.alerts.tasks.evaluate_alert_rules", ignore_result=True)
def evaluate_alert_rules() -> dict[str, int]:
    """Evaluate every enabled rule once: open, deduplicate and resolve incidents, queue notifications."""
    from omni.monitoring.alerts.services import evaluate_all

    return evaluate_all()


@shared_task(name="omni.monitoring.alerts.tasks.deliver_notification", ignore_result=True)
def deliver_notification(
    channel_id: int, incident_id: int | None, event: str, attempt: int = 1
) -> dict[str, Any]:
    """Send one event to one channel (one attempt; a failure schedules the next with backoff)."""
    from omni.monitoring.alerts.services import deliver

    return deliver(channel_id, incident_id, event, attempt)
