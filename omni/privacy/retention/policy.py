"""An organization's effective retention: its own period where it chose one (inside the bounds),
the platform default otherwise; and whether it is on legal hold. Changing either is audited."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from omni.audit.services import record
from omni.privacy.models import OrgRetention
from omni.privacy.retention.registry import RetentionClass, all_classes


def days_for(retention_class: RetentionClass, row: OrgRetention | None) -> int:
    """The period that applies: the organization's value (clamped to the bounds, which settings may
    have narrowed since it was chosen) when the class allows one, else the platform default."""
    if retention_class.per_org and row is not None and retention_class.name in (row.days or {}):
        low, high = retention_class.bounds
        return min(max(int(row.days[retention_class.name]), low), high)
    return retention_class.platform_days


def retention_of(org: Any) -> OrgRetention | None:
    return OrgRetention.objects.filter(organization=org).first()


@dataclass(frozen=True)
class ClassPolicy:
    retention_class: RetentionClass
    days: int
    own: bool  # the organization chose it (else the platform default)


def policies_for(org: Any) -> list[ClassPolicy]:
    row = retention_of(org)
    result = []
    for retention_class in all_classes():
        if not retention_class.deletes:
            continue
        own = retention_class.per_org and row is not None and retention_class.name in (row.days or {})
        result.append(ClassPolicy(retention_class, days_for(retention_class, row), own))
    return result


def set_days(org: Any, days: dict[str, int | None], *, actor: Any = None, request: Any = None) -> bool:
    """Store the organization's periods (None: back to the platform default). The caller validated
    them against the bounds (``forms.RetentionForm``). Records ``privacy.retention_change``."""
    with transaction.atomic():
        row, _ = OrgRetention.objects.select_for_update().get_or_create(organization=org)
        before = dict(row.days or {})
        after = dict(before)
        for name, value in days.items():
            if value is None:
                after.pop(name, None)
            else:
                after[name] = int(value)
        if after == before:
            return False
        row.days = after
        row.updated_at = timezone.now()
        row.save(update_fields=["days", "updated_at"])
        record(
            "privacy.retention_change",
            organization=org,
            actor=actor,
            target=org,
            request=request,
            data={"before": before, "after": after},
        )
    return True


def set_legal_hold(org: Any, on: bool, *, reason: str = "", actor: Any = None, request: Any = None) -> bool:
    """Put ``org`` on legal hold (no retention deletes anything of it) or lift it. Records
    ``privacy.legal_hold_on`` / ``privacy.legal_hold_off``; returns whether it changed. A cleanup
    batch in flight finishes first (it holds the row), the next one sees the hold."""
    with transaction.atomic():
        row, _ = OrgRetention.objects.select_for_update().get_or_create(organization=org)
        if row.legal_hold == on:
            return False
        row.legal_hold = on
        row.legal_hold_reason = reason[:500] if on else ""
        row.legal_hold_since = timezone.now() if on else None
        name = getattr(actor, "get_username", None)
        row.legal_hold_by = (name() if callable(name) else str(actor or ""))[:150] if on else ""
        row.updated_at = timezone.now()
        row.save()
        record(
            "privacy.legal_hold_on" if on else "privacy.legal_hold_off",
            organization=org,
            actor=actor,
            target=org,
            request=request,
            data={"reason": reason[:500]} if on else {},
        )
    return True
