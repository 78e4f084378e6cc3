"""The monitoring data that the privacy app's retention deletes by age (docs/privacy.md, "Retention").

Usage rollups per hour and per day (their defaults are ``USAGE_HOUR_RETENTION_DAYS`` and
``USAGE_DAY_RETENTION_DAYS``; per-minute rows are operational and the rollup task itself drops them
after ``USAGE_MINUTE_RETENTION_HOURS``), resolved incidents and the log of notification deliveries.
An organization's owner may choose other periods inside the bounds on the privacy page; legal hold
suspends the deletion like that of every other class.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings


def _usage(model_name: str):
    def rows(org: Any, cutoff: datetime) -> Any:
        from omni.monitoring.models import usage

        return getattr(usage, model_name).objects.filter(organization=org, bucket__lt=cutoff)

    return rows


def _resolved_incidents(org: Any, cutoff: datetime) -> Any:
    from omni.monitoring.models.alerts import Incident

    return Incident.objects.filter(organization=org, state=Incident.State.RESOLVED, resolved_at__lt=cutoff)


def _deliveries(org: Any, cutoff: datetime) -> Any:
    from omni.monitoring.models.alerts import Delivery

    return Delivery.objects.filter(organization=org, created_at__lt=cutoff)


def register_retention() -> None:
    from omni.privacy.retention.registry import RetentionClass, register

    register(
        RetentionClass(
            name="usage_hours",
            label="Usage analytics per hour",
            default_days=settings.USAGE_HOUR_RETENTION_DAYS,
            min_days=2,
            max_days=max(3650, settings.USAGE_HOUR_RETENTION_DAYS),
            queryset=_usage("UsageHour"),
        )
    )
    register(
        RetentionClass(
            name="usage_days",
            label="Usage analytics per day",
            default_days=settings.USAGE_DAY_RETENTION_DAYS,
            min_days=2,
            max_days=max(3650, settings.USAGE_DAY_RETENTION_DAYS),
            queryset=_usage("UsageDay"),
        )
    )
    register(
        RetentionClass(
            name="incidents",
            label="Resolved incidents (with their deliveries)",
            default_days=365,
            min_days=7,
            max_days=3650,
            queryset=_resolved_incidents,
            description="Counted from when the incident resolved; open and acknowledged ones stay.",
        )
    )
    register(
        RetentionClass(
            name="alert_deliveries",
            label="Notification delivery log",
            default_days=90,
            min_days=7,
            max_days=3650,
            queryset=_deliveries,
        )
    )
