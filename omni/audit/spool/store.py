"""Writing spooled events into the chain: idempotent, and counted per source.

``write_batch`` appends a batch under one lock of the chain head, in one transaction. Events
already in the table (same ``public_id``: a second delivery) are skipped *before* they get a
``seq``, so a duplicate never leaves a hole in the chain. Each source's ``written`` counter grows
by what was stored, in the same transaction. ``dead_letter`` keeps an event that can never be
written, with its error, and counts it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from omni.audit import sealing
from omni.audit.chain import compute_hash, seal
from omni.audit.models import AuditDeadLetter, AuditEvent, AuditSource
from omni.audit.spool.events import SpooledEvent

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Written:
    stored: int
    duplicates: int


def write_batch(events: list[SpooledEvent], using: str = DEFAULT_DB_ALIAS) -> Written:
    from omni.audit.services import _locked_head
    from omni.tenants.models import Organization

    unique: dict[str, SpooledEvent] = {}
    for event in events:
        unique.setdefault(event.public_id, event)
    if not unique:
        return Written(0, len(events))
    for event in unique.values():
        # Tool arguments that had to stay pending on the event loop are sealed now, before the
        # chain hashes them (omni.audit.sealing; the privacy app does the sealing).
        finished = sealing.finish(event.values)
        if finished is not event.values:
            event.values["data"] = finished["data"]
    with transaction.atomic(using=using):
        head = _locked_head(using)
        # Under the head lock every writer is serialized: what is not here now is not written
        # by anybody else before this transaction commits.
        present = {
            str(value)
            for value in AuditEvent.objects.using(using)
            .filter(public_id__in=list(unique))
            .values_list("public_id", flat=True)
        }
        fresh = [event for event in unique.values() if event.public_id not in present]
        org_ids = {event.values.get("organization_id") for event in fresh} - {None}
        # An organization deleted before its events were written: keep them, with the copied slug.
        live_orgs = set(Organization.objects.using(using).filter(pk__in=org_ids).values_list("pk", flat=True))
        seq, prev_hash = head.last_seq, head.last_hash
        rows: list[AuditEvent] = []
        per_source: dict[str, int] = {}
        for event in fresh:
            values = dict(event.values)
            if values.get("organization_id") not in live_orgs:
                values["organization_id"] = None
            seq += 1
            row = AuditEvent(
                public_id=event.public_id,
                seq=seq,
                prev_hash=prev_hash,
                created_at=event.at,
                source=event.source,
                source_seq=event.source_seq,
                **values,
            )
            seal(row)
            row.hash = compute_hash(row)
            prev_hash = row.hash
            rows.append(row)
            per_source[event.source] = per_source.get(event.source, 0) + 1
        if rows:
            AuditEvent.objects.using(using).bulk_create(rows)
            type(head).objects.using(using).filter(pk=1).update(last_seq=seq, last_hash=prev_hash)
            for source, count in per_source.items():
                _bump(source, using, written=count)
    return Written(len(rows), len(events) - len(rows))


def dead_letter(
    payload: str,
    error: str,
    *,
    event: SpooledEvent | None = None,
    spool_id: str = "",
    using: str = DEFAULT_DB_ALIAS,
) -> bool:
    """Keep an event that cannot be written; False when it was dead-lettered before (or written)."""
    source = event.source if event is not None else ""
    number = event.source_seq if event is not None else None
    try:
        with transaction.atomic(using=using):
            if number is not None and (
                AuditDeadLetter.objects.using(using).filter(source=source, source_seq=number).exists()
                or AuditEvent.objects.using(using).filter(source=source, source_seq=number).exists()
            ):
                return False
            AuditDeadLetter.objects.using(using).create(
                source=source, source_seq=number, spool_id=spool_id[:200], payload=payload, error=error[:2000]
            )
            if source:
                _bump(source, using, dead=1)
    except IntegrityError:  # another writer dead-lettered the same event meanwhile
        return False
    logger.error(
        "audit event %s#%s (%s) could not be written and was dead-lettered: %s",
        source or "?",
        number if number is not None else "?",
        spool_id,
        error,
    )
    return True


def report_spooled(source: str, number: int, using: str = DEFAULT_DB_ALIAS) -> None:
    """Record that ``source`` has numbered events up to ``number`` (what ``verify_audit`` expects)."""
    AuditSource.objects.using(using).get_or_create(name=source)
    AuditSource.objects.using(using).filter(name=source, spooled__lt=number).update(
        spooled=number, updated_at=timezone.now()
    )


def _bump(source: str, using: str, *, written: int = 0, dead: int = 0) -> None:
    AuditSource.objects.using(using).get_or_create(name=source)
    AuditSource.objects.using(using).filter(name=source).update(
        written=F("written") + written, dead=F("dead") + dead, updated_at=timezone.now()
    )
