"""Scheduled profiles (beat: ``run_scheduled_load_profiles`` every minute).

A ``LoadProfile`` with ``schedule_enabled`` and a 5-field cron expression in ``schedule`` (UTC:
minute hour day-of-month month day-of-week, as ``celery.schedules.crontab``) starts a run (trigger
``schedule``) when a time of its schedule has come since ``last_scheduled_at`` (or since the
profile was created). ``last_scheduled_at`` is claimed with a conditional UPDATE first, so two
schedulers never start the same slot twice; a beat that was down for a while runs a missed profile
once, not once per missed slot.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery.schedules import crontab
from django.utils import timezone

from omni.loadtest.models import LoadProfile

log = logging.getLogger(__name__)


def parse_cron(expression: str, now: datetime | None = None) -> crontab:
    """``"0 3 * * *"`` -> a crontab (ValueError for anything but 5 valid fields)."""
    fields = (expression or "").split()
    if len(fields) != 5:
        raise ValueError(f"{expression!r}: a cron expression has 5 fields (minute hour day month weekday)")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    kwargs: dict[str, Any] = {}
    if now is not None:
        kwargs["nowfun"] = lambda: now
    try:
        schedule = crontab(minute, hour, day_of_week, day_of_month, month_of_year, **kwargs)
    except Exception as exc:  # celery raises its own ParseException (a ValueError subclass or not)
        raise ValueError(f"{expression!r}: {exc}") from None
    return schedule


def is_due(profile: LoadProfile, now: datetime) -> bool:
    schedule = parse_cron(profile.schedule, now)
    last = profile.last_scheduled_at or profile.created_at
    return bool(schedule.is_due(last).is_due)


def run_scheduled_profiles(now: datetime | None = None) -> list[str]:
    """Start the due profiles' runs; returns the uuids of the runs started."""
    from omni.loadtest.execution import start_run

    now = now or timezone.now()
    started: list[str] = []
    profiles = (
        LoadProfile.objects.filter(schedule_enabled=True).exclude(schedule="").select_related("organization")
    )
    for profile in profiles:
        try:
            due = is_due(profile, now)
        except ValueError as exc:
            log.warning(
                "loadtest: profile %s of %s has a bad schedule: %s", profile.name, profile.organization, exc
            )
            continue
        if not due:
            continue
        claimed = LoadProfile.objects.filter(
            pk=profile.pk, last_scheduled_at=profile.last_scheduled_at
        ).update(last_scheduled_at=now)
        if not claimed:
            continue  # another scheduler took this slot
        try:
            from omni.loadtest.services import RunRefused, create_run
        except ImportError:
            log.warning("loadtest: omni.loadtest.services is not available; profile %s not run", profile.name)
            continue
        try:
            run = create_run(profile.organization, profile.name, trigger="schedule")
        except RunRefused as exc:
            log.warning(
                "loadtest: scheduled run of %s/%s refused: %s", profile.organization, profile.name, exc
            )
            continue
        except Exception:
            log.exception(
                "loadtest: scheduled run of %s/%s could not be created", profile.organization, profile.name
            )
            continue
        start_run(run)
        started.append(str(run.uuid))
    return started
