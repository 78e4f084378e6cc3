"""Load runs that the privacy app's retention deletes by age (class ``load_runs``, default 90 days;
docs/privacy.md, "Retention"). A finished run older than the period goes with its shards; a run
that a baseline points to stays as long as the baseline does, and unfinished runs are never deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def _old_runs(org: Any, cutoff: datetime) -> Any:
    from django.db.models import Exists, OuterRef

    from omni.loadtest.models import LoadBaseline, LoadRun

    return LoadRun.objects.filter(
        organization=org, created_at__lt=cutoff, status__in=LoadRun.FINISHED
    ).exclude(Exists(LoadBaseline.objects.filter(run=OuterRef("pk"))))


def register_retention() -> None:
    from omni.privacy.retention.registry import RetentionClass, register

    register(
        RetentionClass(
            name="load_runs",
            label="Load test runs (with their shards)",
            default_days=90,
            min_days=1,
            max_days=3650,
            queryset=_old_runs,
            description="Runs a baseline points to are kept with the baseline.",
        )
    )
