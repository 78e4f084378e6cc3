"""Applying the retention periods: per data class, per organization, in small batches.

``apply_retention`` is what the daily task and ``manage.py apply_retention`` run. For each class
(``registry.all_classes``) and each organization (or once for the platform, ``platform=True``):

- legal hold: nothing is deleted, the run is recorded as ``held``;
- otherwise batches of ``RETENTION_BATCH_SIZE`` rows older than the cutoff are deleted, each batch
  its own transaction, until a batch comes back short or ``RETENTION_MAX_BATCHES`` is reached
  (``partial``: the next run carries on). Rows are picked with ``SELECT … FOR UPDATE SKIP LOCKED``
  and deleted by id, so two runs at once (two workers, a worker and the command) never delete a
  row twice and their counts add up to what was there. Before every batch the organization's hold
  is read ``FOR SHARE``: setting a hold waits for the batch in flight, the next batch sees it.
- a dry run counts what would go and deletes nothing.

Every class × organization gets a ``RetentionRun`` row; every organization where something was
deleted (or held) gets a ``privacy.retention_run`` audit event, and the run as a whole one global
``privacy.retention_run`` (not for dry runs, which change nothing).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from omni.audit.services import Actor, record
from omni.privacy.models import OrgRetention, RetentionRun
from omni.privacy.retention.policy import days_for
from omni.privacy.retention.registry import RetentionClass, all_classes, get

logger = logging.getLogger(__name__)

RETENTION_ACTOR = Actor("system", "", "retention")


def delete_queryset_batch(queryset: Any, batch_size: int) -> int:
    """Delete at most ``batch_size`` rows of ``queryset`` that no other transaction has locked;
    returns how many rows of its model were deleted (not counting cascades)."""
    model = queryset.model
    with transaction.atomic():
        ids = list(
            queryset.order_by("pk")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return 0
        _, per_model = model._base_manager.filter(pk__in=ids).delete()
    return int(per_model.get(model._meta.label, 0))


def _on_hold(org: Any) -> bool:
    """The organization's hold, read FOR SHARE inside the caller's transaction (SQLite, the
    embedded default, has one writer at a time anyway)."""
    lock = " FOR SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT legal_hold FROM privacy_orgretention WHERE organization_id = %s" + lock,  # noqa: S608
            [org.pk],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def _one_batch(retention_class: RetentionClass, org: Any, cutoff: datetime, size: int) -> int | None:
    """One batch; None when the organization is (now) on legal hold."""
    with transaction.atomic():
        if org is not None and _on_hold(org):
            return None
        if retention_class.delete_batch is not None:
            return retention_class.delete_batch(org, cutoff, size)
        return delete_queryset_batch(retention_class.queryset(org, cutoff), size)


def _count(retention_class: RetentionClass, org: Any, cutoff: datetime) -> int:
    if retention_class.count is not None:
        return retention_class.count(org, cutoff)
    return retention_class.queryset(org, cutoff).count()


@dataclass
class RunSummary:
    run_id: uuid.UUID
    dry_run: bool
    runs: list[RetentionRun] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)

    @property
    def deleted(self) -> int:
        return sum(run.deleted for run in self.runs)

    def by_class(self) -> dict[str, int]:
        totals: dict[str, int] = dict.fromkeys(self.classes, 0)
        for run in self.runs:
            totals[run.class_name] = totals.get(run.class_name, 0) + run.deleted
        return totals


def run_class(
    retention_class: RetentionClass,
    org: Any,
    *,
    run_id: uuid.UUID,
    dry_run: bool = False,
    trigger: str = RetentionRun.Trigger.COMMAND,
    now: datetime | None = None,
    batch_size: int | None = None,
    max_batches: int | None = None,
) -> RetentionRun:
    """Apply one class to one organization (or the platform: ``org`` None for platform classes)."""
    now = now or timezone.now()
    batch_size = batch_size or settings.RETENTION_BATCH_SIZE
    max_batches = max_batches or settings.RETENTION_MAX_BATCHES
    row = OrgRetention.objects.filter(organization=org).first() if org is not None else None
    # A platform class has one cutoff (its own function applies organizations' values per row).
    days = retention_class.platform_days if retention_class.platform else days_for(retention_class, row)
    cutoff = now - timedelta(days=days)
    run = RetentionRun.objects.create(
        run_id=run_id,
        class_name=retention_class.name,
        organization=org,
        org_slug=org.slug if org is not None else "",
        trigger=trigger,
        dry_run=dry_run,
        cutoff=cutoff,
        days=days,
        started_at=timezone.now(),
    )
    try:
        if row is not None and row.legal_hold:
            run.status = RetentionRun.Status.HELD
        elif dry_run:
            run.deleted = _count(retention_class, org, cutoff)
            run.status = RetentionRun.Status.DONE
        else:
            run.status = RetentionRun.Status.DONE
            while True:
                if run.batches >= max_batches:
                    run.status = RetentionRun.Status.PARTIAL
                    break
                deleted = _one_batch(retention_class, org, cutoff, batch_size)
                if deleted is None:
                    run.status = RetentionRun.Status.HELD
                    break
                run.batches += 1
                run.deleted += deleted
                if deleted < batch_size:
                    break
    except Exception as exc:  # recorded and logged; the other classes still run
        logger.exception("retention of %s for %s failed", retention_class.name, run.org_slug or "platform")
        run.status = RetentionRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:2000]
    run.finished_at = timezone.now()
    run.save()
    return run


def _targets(retention_class: RetentionClass, org: Any) -> Iterable[Any]:
    from omni.tenants.models import Organization

    if retention_class.platform:
        return [org]
    if org is not None:
        return [org]
    return Organization.objects.order_by("pk").iterator(chunk_size=500)


def apply_retention(
    *,
    org: Any = None,
    dry_run: bool = False,
    trigger: str = RetentionRun.Trigger.COMMAND,
    classes: list[str] | None = None,
    now: datetime | None = None,
    batch_size: int | None = None,
    max_batches: int | None = None,
    progress: Callable[[RetentionRun], None] | None = None,
) -> RunSummary:
    """Apply every class (or ``classes``) to every organization (or ``org``); see the module doc."""
    selected = [get(name) for name in classes] if classes else all_classes()
    summary = RunSummary(run_id=uuid.uuid4(), dry_run=dry_run)
    for retention_class in selected:
        if not retention_class.deletes:
            continue
        summary.classes.append(retention_class.name)
        for target in _targets(retention_class, org):
            run = run_class(
                retention_class,
                target,
                run_id=summary.run_id,
                dry_run=dry_run,
                trigger=trigger,
                now=now,
                batch_size=batch_size,
                max_batches=max_batches,
            )
            summary.runs.append(run)
            if progress is not None:
                progress(run)
    if not dry_run:
        _record(summary, org)
    return summary


def _record(summary: RunSummary, only: Any) -> None:
    per_org: dict[int, list[RetentionRun]] = {}
    for run in summary.runs:
        if run.organization_id is not None:
            per_org.setdefault(run.organization_id, []).append(run)
    for runs in per_org.values():
        if any(run.deleted or run.status != RetentionRun.Status.DONE for run in runs):
            record(
                "privacy.retention_run",
                organization=runs[0].organization,
                actor=RETENTION_ACTOR,
                data={
                    "run_id": str(summary.run_id),
                    "deleted": {run.class_name: run.deleted for run in runs},
                    "status": {run.class_name: run.status for run in runs},
                },
            )
    record(
        "privacy.retention_run",
        organization=only,
        actor=RETENTION_ACTOR,
        data={
            "run_id": str(summary.run_id),
            "scope": only.slug if only is not None else "all",
            "deleted": summary.by_class(),
            "failed": sorted({run.class_name for run in summary.runs if run.status == "failed"}),
        },
    )
