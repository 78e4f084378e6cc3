"""Per-organization quotas of the built-in servers' data: notes and datasets, by count and by bytes.

Defaults come from ``settings.QUOTA_DEFAULTS`` (env ``QUOTA_NOTES``, ``QUOTA_NOTE_BYTES``,
``QUOTA_DATASETS``, ``QUOTA_DATASET_BYTES``); an organization may override any of them in
``Organization.settings["quotas"]`` (for example ``{"notes": 50000, "note_bytes": 104857600}``), the
way rate limits are overridden in ``settings["rate_limits"]``. ``0`` means "none allowed".

What counts: a note's bytes are the UTF-8 bytes of its title and body; a dataset's bytes are the
bytes of its stored JSON text (columns and rows). A write that would take the organization past a
quota is refused with a ``ToolError`` naming the quota, its limit and the setting, and the refusal is
audited (``quota.exceeded``). Two concurrent writes may each pass the check and together overshoot
by one write: the quotas bound growth, they are not a ledger.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db.models import Count, Func, IntegerField, Sum, TextField
from django.db.models.functions import Cast, Coalesce
from mcp.server.mcpserver.exceptions import ToolError

from mcp_servers.models import Dataset, Note

logger = logging.getLogger(__name__)

QUOTA_NAMES: tuple[str, ...] = ("notes", "note_bytes", "datasets", "dataset_bytes")
_SETTING = {
    "notes": "QUOTA_NOTES",
    "note_bytes": "QUOTA_NOTE_BYTES",
    "datasets": "QUOTA_DATASETS",
    "dataset_bytes": "QUOTA_DATASET_BYTES",
}
_WHAT = {
    "notes": "notes",
    "note_bytes": "bytes of notes",
    "datasets": "datasets",
    "dataset_bytes": "bytes of datasets",
}


class OctetLength(Func):
    """Bytes of a text value: ``OCTET_LENGTH`` (PostgreSQL), ``LENGTH(CAST(x AS BLOB))`` (SQLite)."""

    function = "OCTET_LENGTH"
    output_field = IntegerField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="LENGTH(CAST(%(expressions)s AS BLOB))", **extra)


def _bytes_of(field: str) -> OctetLength:
    return OctetLength(Cast(field, TextField()))


# --------------------------------------------------------------------------- limits
def validate_quotas(value: Any) -> list[str]:
    """What is wrong with an ``Organization.settings["quotas"]`` value (empty when valid)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return ["quotas must be an object of name → limit"]
    errors = []
    for name, limit in value.items():
        if name not in QUOTA_NAMES:
            errors.append(f"unknown quota {name!r}; known: {', '.join(QUOTA_NAMES)}")
        elif isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 10**15:
            errors.append(f"{name} must be a whole number from 0 to 10^15")
    return errors


def overrides_of(org_settings: Any) -> dict[str, int]:
    """The valid quota overrides in an organization's ``settings`` (invalid ones are ignored)."""
    raw = org_settings.get("quotas") if isinstance(org_settings, dict) else None
    if not isinstance(raw, dict):
        return {}
    return {name: limit for name, limit in raw.items() if not validate_quotas({name: limit})}


async def _organization(org_slug: str) -> Any:
    from omni.tenants.models import Organization

    return await Organization.objects.filter(slug=org_slug).afirst()


async def limits_for(org_slug: str) -> dict[str, int]:
    """Every quota of the organization ``org_slug``: its overrides over the defaults."""
    org = await _organization(org_slug)
    limits = dict(settings.QUOTA_DEFAULTS)
    if org is not None:
        limits.update(overrides_of(org.settings))
    return limits


# --------------------------------------------------------------------------- usage
async def notes_usage(org_slug: str, *, excluding: Any = None) -> tuple[int, int]:
    """(count, bytes) of the organization's notes, without the note ``excluding`` (a public id)."""
    notes = Note.objects.for_org(org_slug)
    if excluding is not None:
        notes = notes.exclude(public_id=excluding)
    totals = await notes.aaggregate(
        count=Count("id"),
        size=Coalesce(Sum(_bytes_of("title")), 0) + Coalesce(Sum(_bytes_of("body")), 0),
    )
    return int(totals["count"]), int(totals["size"])


async def datasets_usage(org_slug: str, *, excluding: str | None = None) -> tuple[int, int]:
    """(count, bytes) of the organization's datasets, without the dataset named ``excluding``."""
    datasets = Dataset.objects.for_org(org_slug)
    if excluding is not None:
        datasets = datasets.exclude(name=excluding)
    totals = await datasets.aaggregate(
        count=Count("id"),
        size=Coalesce(Sum(_bytes_of("columns")), 0) + Coalesce(Sum(_bytes_of("rows")), 0),
    )
    return int(totals["count"]), int(totals["size"])


def note_bytes(title: str, body: str) -> int:
    return len(title.encode()) + len(body.encode())


# --------------------------------------------------------------------------- checks
async def _refuse(org_slug: str, server: str, name: str, limit: int, wanted: int, tool: str) -> ToolError:
    from omni.audit.services import AuditTarget, arecord

    await arecord(
        "quota.exceeded",
        organization=await _organization(org_slug),
        actor=f"{server} server",
        target=AuditTarget("quota", name, f"{name} of {org_slug}"),
        data={"quota": name, "limit": limit, "requested": wanted, "tool": tool, "org_slug": org_slug},
    )
    return ToolError(
        f"quota exceeded: {tool} would bring your organization to {wanted} {_WHAT[name]}, over its "
        f"limit of {limit} (quota '{name}', default from {_SETTING[name]}; an operator can raise it "
        f'for your organization in its settings["quotas"])'
    )


async def check_notes(org_slug: str, tool: str, *, size: int, replacing: Any = None) -> None:
    """Refuse (``ToolError``, audited) a note of ``size`` bytes that would pass a notes quota.

    ``replacing``: the public id of the note being updated (its old size does not count).
    """
    limits = await limits_for(org_slug)
    count, used = await notes_usage(org_slug, excluding=replacing)
    if replacing is None and count + 1 > limits["notes"]:
        raise await _refuse(org_slug, "knowledge", "notes", limits["notes"], count + 1, tool)
    if used + size > limits["note_bytes"]:
        raise await _refuse(org_slug, "knowledge", "note_bytes", limits["note_bytes"], used + size, tool)


async def check_datasets(org_slug: str, tool: str, *, name: str, size: int) -> None:
    """Refuse (``ToolError``, audited) a dataset ``name`` of ``size`` bytes that would pass a quota
    (a dataset of the same name is replaced, so it does not count)."""
    limits = await limits_for(org_slug)
    count, used = await datasets_usage(org_slug, excluding=name)
    if count + 1 > limits["datasets"]:
        raise await _refuse(org_slug, "analytics", "datasets", limits["datasets"], count + 1, tool)
    if used + size > limits["dataset_bytes"]:
        raise await _refuse(
            org_slug, "analytics", "dataset_bytes", limits["dataset_bytes"], used + size, tool
        )
