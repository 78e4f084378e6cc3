"""Erasing a person from the audit log without breaking the chain (chain version 2).

``erase_personal(queryset, fields)`` replaces the named personal fields of the selected events by
their markers (``omni.audit.chain.ERASED``) and drops their salts: each event keeps its place and its
hash, ``verify_audit`` still passes, and nothing left in the row says who the person was. This is
the one change of an event that Python and the PostgreSQL trigger (migration 0004) accept.

Version-1 events (written before chain version 2) hash the values themselves: they are counted and
left unchanged (``Erased.kept_v1``), never rewritten into a broken chain.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet

from omni.audit.chain import ERASED, PERSONAL_FIELDS
from omni.audit.models import AuditEvent


@dataclass
class Erased:
    events: int = 0
    kept_v1: int = 0


def erase_personal(events: QuerySet[AuditEvent], fields: Iterable[str], *, batch: int = 500) -> Erased:
    """Erase ``fields`` (a subset of ``PERSONAL_FIELDS``) in every event of ``events``."""
    names = [name for name in fields if name in PERSONAL_FIELDS]
    unknown = set(fields) - set(PERSONAL_FIELDS)
    if unknown:
        raise ValueError(f"not personal fields of an audit event: {sorted(unknown)}")
    result = Erased()
    result.kept_v1 = events.filter(chain_version__lt=2).count()
    pks = list(events.filter(chain_version__gte=2).values_list("pk", flat=True))
    for start in range(0, len(pks), batch):
        chunk = pks[start : start + batch]
        with transaction.atomic():
            for row in AuditEvent.objects.select_for_update().filter(pk__in=chunk).order_by("pk"):
                salts = {k: v for k, v in (row.personal_salts or {}).items() if k not in names}
                values = {name: ERASED[name] for name in names}
                if salts == row.personal_salts and all(getattr(row, n) == v for n, v in values.items()):
                    continue
                # The one write of an event allowed (the trigger checks the same rule in SQL).
                AuditEvent.objects.filter(pk=row.pk).erase_fields(personal_salts=salts, **values)
                result.events += 1
    return result
