"""Key operations with their audit events: rotation (re-wrap), retirement check, crypto-shredding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps

from omni.audit.services import AuditTarget, record
from omni.privacy.crypto import keys


@dataclass(frozen=True)
class MasterKeyUse:
    master_key_id: str
    configured: bool
    current: bool
    data_keys: int  # live data keys wrapped by it


def master_key_report() -> list[MasterKeyUse]:
    """Every master key that is configured or still wraps a live data key, with how many it wraps.

    A configured key other than the first with ``data_keys == 0`` can be removed from
    ``PRIVACY_MASTER_KEYS``; a key that is *not* configured but wraps data keys means those keys
    (and their organizations' data) cannot be read until it is put back."""
    model = apps.get_model("privacy", "DataKey")
    configured = [m.id for m in keys.master_keys()]
    counts: dict[str, int] = {}
    for master_id in model.objects.filter(destroyed_at__isnull=True).values_list("master_key_id", flat=True):
        counts[master_id] = counts.get(master_id, 0) + 1
    ids = configured + sorted(set(counts) - set(configured))
    return [MasterKeyUse(i, i in configured, i == configured[0], counts.get(i, 0)) for i in ids]


def rotate_master_key(*, actor: Any = None) -> dict[str, int]:
    """Re-wrap every live data key with the first master key; audited as ``privacy.key_rotated``."""
    counts = keys.rewrap_all()
    current = keys.master_keys()[0].id
    record(
        "privacy.key_rotated",
        actor=actor,
        target=AuditTarget("privacy.master_key", current, f"master key {current}"),
        data={"master_key_id": current, **counts},
    )
    return counts


def destroy_org_key(organization: Any, *, actor: Any = None, request: Any = None) -> list[str]:
    """Crypto-shred ``organization``: destroy its data key(s), so every value encrypted for it (in
    this database and in every backup) is unreadable. Audited as ``privacy.key_destroyed``."""
    destroyed = keys.destroy_org_keys(organization.pk)
    record(
        "privacy.key_destroyed",
        organization=organization,
        actor=actor,
        request=request,
        target=organization,
        data={"key_ids": destroyed},
    )
    return destroyed


def set_personal_data_masking(
    organization: Any, enabled: bool, *, actor: Any = None, request: Any = None
) -> bool:
    """Turn masking of personal data (emails, phones, cards, IBANs) in stored payloads on or off;
    returns whether it changed. Recorded as ``org.settings_change``."""
    from django.db import transaction

    from omni.privacy.crypto.redaction import PERSONAL_DATA_SETTING

    with transaction.atomic():
        locked = type(organization).objects.select_for_update().get(pk=organization.pk)
        values = dict(locked.settings or {})
        before = values.get(PERSONAL_DATA_SETTING) is True
        if before == enabled:
            return False
        values[PERSONAL_DATA_SETTING] = enabled
        locked.settings = values
        locked.save(update_fields=["settings"])
        organization.settings = values
        record(
            "org.settings_change",
            organization=organization,
            actor=actor,
            target=organization,
            request=request,
            data={"setting": PERSONAL_DATA_SETTING, "before": before, "after": enabled},
        )
    return True


def key_status(organization: Any) -> dict[str, Any]:
    """What the encryption page shows: the organization's keys (ids, dates, master key), no secrets."""
    model = apps.get_model("privacy", "DataKey")
    rows = list(model.objects.filter(organization=organization).order_by("-created_at"))
    return {
        "keys": rows,
        "live": next((k for k in rows if k.destroyed_at is None), None),
        "current_master": keys.master_keys()[0].id,
    }
