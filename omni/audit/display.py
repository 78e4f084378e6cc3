"""How an event reads in the viewer: its before/after as rows of a diff."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from omni.audit import sealing
from omni.audit.models import AuditEvent


@dataclass(frozen=True)
class DiffRow:
    field: str
    before: str
    after: str
    changed: bool


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, indent=1)


def diff_rows(event: AuditEvent) -> list[DiffRow]:
    """One row per field of ``data["before"]``/``data["after"]`` (dicts), or one row for scalars
    (a role change); empty when the event has neither."""
    data = event.data if isinstance(event.data, dict) else {}
    if "before" not in data and "after" not in data:
        return []
    before, after = data.get("before"), data.get("after")
    if isinstance(before, dict) or isinstance(after, dict):
        before, after = before or {}, after or {}
        secrets = set(data.get("secrets_changed") or [])
        return [
            DiffRow(
                name,
                _text(before.get(name)) if name in before else "—",
                _text(after.get(name)) if name in after else "—",
                before.get(name) != after.get(name) or name in secrets,
            )
            for name in sorted(set(before) | set(after))
        ]
    return [DiffRow("value", _text(before), _text(after), before != after)]


def other_data(event: AuditEvent) -> dict[str, str]:
    """The rest of ``data`` (tool, outcome, duration, arguments…) as display strings."""
    data = event.data if isinstance(event.data, dict) else {}
    return {
        key: _text(sealing.open_value(value))
        for key, value in sorted(data.items())
        if key not in ("before", "after")
    }
