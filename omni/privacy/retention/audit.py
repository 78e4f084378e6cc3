"""Removing old audit events without breaking the chain's verifiability.

The chain is one global sequence, so retention only ever removes a **prefix** of it: starting at
the lowest remaining ``seq``, events are removed while each one is due (older than its
organization's period, the platform's for global events and those of deleted organizations, and
its organization not on legal hold). The first event that is not due stops the prefix: a younger
event, an event of an organization with a longer period, or one on legal hold, keeps every event
after it too, until it is due itself.

Each batch, in one transaction:

1. takes a transaction-scoped advisory lock (two runs never prune at once; the second finds the
   prefix already gone and stops);
2. reads the next ``batch_size`` events in ``seq`` order and checks them before removing anything:
   each must match its hash and link to the one before (the first to the last checkpoint's hash).
   A broken event stops pruning with an error: retention never destroys evidence of tampering;
3. deletes them (``SET LOCAL omni.audit_prune = 'on'``: the only DELETE the append-only trigger
   lets through, privacy migration 0003);
4. appends the checkpoint event ``privacy.retention_checkpoint``: the last removed ``seq`` and its
   hash, how many were removed, and (cumulatively) the spooled numbers removed per source.

A crash in between rolls back both; ``verify_audit`` starts from the latest checkpoint.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction

from omni.audit.chain import CHECKPOINT_ACTION, compute_hash, latest_checkpoint, personal_problems
from omni.audit.models import GENESIS_HASH, AuditEvent
from omni.audit.services import Actor, append, build_event

logger = logging.getLogger(__name__)

CLASS_NAME = "audit_events"
RETENTION_ACTOR = Actor(AuditEvent.ActorType.SYSTEM, "", "retention")
# pg_advisory_xact_lock key: the first 8 bytes of sha256("omni.privacy.retention.audit") as bigint.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"omni.privacy.retention.audit").digest()[:8], "big", signed=True)


class ChainBrokenError(RuntimeError):
    """Pruning stopped: an event due for removal does not verify (removing it would hide that)."""


def _cutoffs(now: datetime) -> tuple[dict[int, datetime | None], datetime]:
    """organization id → cutoff (None: on legal hold), and the platform cutoff (global events,
    events of deleted organizations, organizations that kept the default)."""
    from omni.privacy.models import OrgRetention
    from omni.privacy.retention.policy import days_for
    from omni.privacy.retention.registry import get

    retention_class = get(CLASS_NAME)
    platform = now - timedelta(days=retention_class.platform_days)
    cutoffs: dict[int, datetime | None] = {}
    for row in OrgRetention.objects.all():
        if row.legal_hold:
            cutoffs[row.organization_id] = None
        else:
            cutoffs[row.organization_id] = now - timedelta(days=days_for(retention_class, row))
    return cutoffs, platform


def _due(
    event: AuditEvent, cutoffs: dict[int, datetime | None], platform: datetime, only_org_id: int | None
) -> bool:
    if only_org_id is not None and event.organization_id != only_org_id:
        return False
    if event.organization_id is None:
        cutoff: datetime | None = platform
    else:
        cutoff = cutoffs.get(event.organization_id, platform)
    return cutoff is not None and event.created_at < cutoff


def _merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def _due_prefix(
    batch_size: int, now: datetime, only_org_id: int | None, after_seq: int, start_hash: str | None
) -> list[AuditEvent]:
    """The next due events after ``after_seq``, verified; stops at the first one not due."""
    cutoffs, platform = _cutoffs(now)
    events = list(AuditEvent.objects.filter(seq__gt=after_seq).order_by("seq")[:batch_size])
    taken: list[AuditEvent] = []
    expected_prev = start_hash
    for event in events:
        if not _due(event, cutoffs, platform, only_org_id):
            break
        if compute_hash(event) != event.hash or personal_problems(event):
            raise ChainBrokenError(f"audit event seq {event.seq} does not match its hash: not pruning it")
        if expected_prev is not None and event.prev_hash != expected_prev:
            raise ChainBrokenError(
                f"audit event seq {event.seq} does not link to the event before it: not pruning it"
            )
        taken.append(event)
        expected_prev = event.hash
    return taken


def _start() -> tuple[int, str | None, dict[str, list[tuple[int, int]]], int]:
    """(after seq, hash the next event must link to, removed spool numbers, removed so far)."""
    checkpoint = latest_checkpoint()
    if checkpoint is None:
        return 0, GENESIS_HASH, {}, 0
    return checkpoint.through_seq, checkpoint.through_hash, dict(checkpoint.sources), checkpoint.removed_total


def _now_of(cutoff: datetime) -> datetime:
    """The run's "now": the engine's cutoff is ``now - platform days`` for this platform class."""
    from omni.privacy.retention.registry import get

    return cutoff + timedelta(days=get(CLASS_NAME).platform_days)


def count_due(org: Any, cutoff: datetime, *, limit: int = 1_000_000) -> int:
    """How many events a run would remove now (dry run); reads in pages, at most ``limit``."""
    now = _now_of(cutoff)
    only = org.pk if org is not None else None
    after, start_hash, _, _ = _start()
    total = 0
    while total < limit:
        size = min(1000, limit - total)
        page = _due_prefix(size, now, only, after, start_hash)
        total += len(page)
        if len(page) < size:  # the prefix (or the table) ended
            break
        after, start_hash = page[-1].seq, page[-1].hash
    return total


def delete_batch(org: Any, cutoff: datetime, batch_size: int) -> int:
    """Remove the next due prefix of at most ``batch_size`` events and record the checkpoint.

    ``org``: only that organization's events (the prefix stops at anyone else's); None: all.
    ``cutoff`` is the platform cutoff the engine computed; each event's own organization decides.
    """
    now = _now_of(cutoff)
    only = org.pk if org is not None else None
    with transaction.atomic():
        postgres = connection.vendor == "postgresql"
        if postgres:  # SQLite (the embedded default) has one writer at a time anyway
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        after, start_hash, sources, removed_before = _start()
        taken = _due_prefix(batch_size, now, only, after, start_hash)
        if not taken:
            return 0
        ids = [event.pk for event in taken]
        with connection.cursor() as cursor:
            if postgres:
                cursor.execute("SET LOCAL omni.audit_prune = 'on'")
            marks = ", ".join(["%s"] * len(ids))
            cursor.execute(f"DELETE FROM audit_auditevent WHERE id IN ({marks})", ids)  # noqa: S608
            deleted = cursor.rowcount
            if postgres:
                cursor.execute("SET LOCAL omni.audit_prune = 'off'")
        if deleted != len(ids):  # somebody else removed some: never record a wrong checkpoint
            raise RuntimeError(f"audit pruning removed {deleted} of {len(ids)} events: rolled back")
        for event in taken:
            if event.source and event.source_seq is not None:
                sources.setdefault(event.source, []).append((event.source_seq, event.source_seq))
        last = taken[-1]
        data = {
            "pruned_through_seq": last.seq,
            "pruned_through_hash": last.hash,
            "first_removed_seq": taken[0].seq,
            "removed": deleted,
            "removed_total": removed_before + deleted,
            "sources": {name: [list(r) for r in _merge_ranges(ranges)] for name, ranges in sources.items()},
        }
        append(build_event(CHECKPOINT_ACTION, actor=RETENTION_ACTOR, data=data))
    logger.info("audit retention removed seq %s..%s (%s events)", taken[0].seq, last.seq, deleted)
    return deleted
