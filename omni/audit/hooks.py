"""What other apps call to be audited: registry snapshots with before/after, and MCP tool calls.

The registry's ``RegistryItem.save()``/``delete()`` (and its queryset's bulk ``update``/``delete``)
call these explicitly; nothing here listens to model signals. Secrets never enter a snapshot:
``credential`` shows as ``"<redacted>"`` (or ``""`` when empty), and a change of it is listed in
``data["secrets_changed"]``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from django.db import models
from django.forms.models import model_to_dict

from omni.audit.services import AuditTarget, arecord, record
from omni.tenants.context import OrgContext

SECRET_FIELDS = frozenset({"credential"})
REDACTED = "<redacted>"


def snapshot(instance: models.Model) -> dict[str, Any]:
    """The editable fields of a registry row as JSON-friendly values, secrets redacted."""
    values = model_to_dict(instance)
    values.pop("id", None)  # the internal pk: the event's target_id is the public uuid
    for name in SECRET_FIELDS & set(values):
        values[name] = REDACTED if values[name] else ""
    for name, value in list(values.items()):
        if isinstance(value, bytes | bytearray | memoryview):
            raw = bytes(value)
            values[name] = {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    if "organization" in values:
        org_id = values["organization"]
        values["organization"] = instance.organization.slug if org_id is not None else None
    return values


def _secrets(instance: models.Model) -> dict[str, str]:
    """The raw secrets, only to tell whether they changed (never stored)."""
    return {name: str(getattr(instance, name, "") or "") for name in SECRET_FIELDS if hasattr(instance, name)}


class RegistryBefore:
    """The state of a row before a save: its snapshot and secrets (None when it is new)."""

    def __init__(self, instance: models.Model | None) -> None:
        self.snapshot = snapshot(instance) if instance is not None else None
        self.secrets = _secrets(instance) if instance is not None else {}


def registry_before(instance: models.Model) -> RegistryBefore:
    """Read the stored row before ``instance`` is saved over it (one query; none for a new row)."""
    if instance._state.adding or instance.pk is None:
        return RegistryBefore(None)
    stored = type(instance)._base_manager.filter(pk=instance.pk).select_related("organization").first()
    return RegistryBefore(stored)


def _kind(instance: models.Model) -> str:
    return instance._meta.model_name


def _organization(instance: models.Model) -> Any:
    return instance.organization if getattr(instance, "organization_id", None) is not None else None


def registry_saved(instance: models.Model, before: RegistryBefore) -> None:
    """Record ``registry.create`` or ``registry.update`` (with before/after and changed fields)."""
    after = snapshot(instance)
    if before.snapshot is None:
        record(
            "registry.create",
            organization=_organization(instance),
            target=instance,
            data={"kind": _kind(instance), "after": after},
        )
        return
    keys = set(before.snapshot) | set(after)
    changed = sorted(key for key in keys if before.snapshot.get(key) != after.get(key))
    secrets_now = _secrets(instance)
    secrets_changed = sorted(name for name in secrets_now if secrets_now[name] != before.secrets.get(name))
    if not changed and not secrets_changed:
        return  # saved without a change: nothing happened to the configuration
    data: dict[str, Any] = {"kind": _kind(instance), "before": before.snapshot, "after": after}
    data["changed"] = sorted(set(changed) | set(secrets_changed))
    if secrets_changed:
        data["secrets_changed"] = secrets_changed
    if before.snapshot.get("organization") != after.get("organization"):
        data["moved_from"] = before.snapshot.get("organization")
    record("registry.update", organization=_organization(instance), target=instance, data=data)


def registry_deleted(instance: models.Model, before: dict[str, Any]) -> None:
    """Record ``registry.delete`` with the snapshot taken before the row went."""
    record(
        "registry.delete",
        organization=_organization(instance),
        target=instance,
        data={"kind": _kind(instance), "before": before},
    )


def registry_rows(queryset: models.QuerySet) -> list[models.Model]:
    """The rows a bulk ``update``/``delete`` is about to touch (read before it runs)."""
    return list(queryset.select_related("organization"))


def registry_bulk_deleted(rows: Iterable[models.Model]) -> None:
    for row in rows:
        registry_deleted(row, snapshot(row))


def registry_bulk_updated(rows: Iterable[models.Model]) -> None:
    rows = list(rows)
    if not rows:
        return
    model = type(rows[0])
    fresh = {obj.pk: obj for obj in model._base_manager.filter(pk__in=[r.pk for r in rows])}
    for row in rows:
        if row.pk in fresh:
            registry_saved(fresh[row.pk], RegistryBefore(row))


# --------------------------------------------------------------------------- the gateway
async def arecord_tool_call(
    ctx: OrgContext,
    *,
    tool: str,
    outcome: str,
    duration_ms: float,
    arguments: dict[str, Any] | None = None,
    error: str | None = None,
    request: Any = None,
) -> None:
    """Record one MCP ``tools/call`` (``mcp.tools_call``): organization and key from ``ctx``,
    ``outcome`` ("ok", "error", "denied", "invalid"...), duration; ``arguments`` are kept only
    when the organization turned ``audit_tool_arguments`` on. Never raises."""
    data: dict[str, Any] = {"tool": tool, "outcome": outcome, "duration_ms": round(float(duration_ms), 3)}
    if arguments is not None:
        data["arguments"] = arguments
    if error:
        data["error"] = error[:1000]
    await arecord(
        "mcp.tools_call", ctx=ctx, target=AuditTarget("mcp.tool", tool[:64], tool), data=data, request=request
    )
