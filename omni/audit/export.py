"""CSV and JSON exports of a filtered audit log, streamed (constant memory for any size).

Both carry ``seq``, ``prev_hash`` and ``hash``, so an exported file can be checked against the
chain later. CSV cells that a spreadsheet would run as a formula (``= + - @`` first) get a leading
apostrophe.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from omni.audit.models import AuditEvent

COLUMNS = (
    "seq",
    "id",
    "created_at",
    "organization",
    "actor_type",
    "actor_id",
    "actor_name",
    "action",
    "outcome",
    "target_type",
    "target_id",
    "target_repr",
    "request_id",
    "ip",
    "data",
    "prev_hash",
    "hash",
)
CHUNK = 1000


def as_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "id": str(event.public_id),
        "created_at": event.created_at.isoformat(),
        "organization": event.org_slug or None,
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "action": event.action,
        "outcome": event.outcome,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_repr": event.target_repr,
        "request_id": event.request_id,
        "ip": event.ip,
        "data": event.data,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def csv_rows(queryset: QuerySet) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    for event in queryset.iterator(chunk_size=CHUNK):
        row = as_dict(event)
        yield writer.writerow([_cell(row[column]) for column in COLUMNS])


def json_chunks(queryset: QuerySet) -> Iterator[str]:
    yield "["
    first = True
    for event in queryset.iterator(chunk_size=CHUNK):
        yield ("\n" if first else ",\n") + json.dumps(as_dict(event), ensure_ascii=False)
        first = False
    yield "\n]\n"


def export_response(queryset: QuerySet, fmt: str, name: str) -> StreamingHttpResponse:
    """A streamed download of ``queryset`` as ``fmt`` ("csv" or "json")."""
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    if fmt == "csv":
        response = StreamingHttpResponse(csv_rows(queryset), content_type="text/csv; charset=utf-8")
    elif fmt == "json":
        response = StreamingHttpResponse(json_chunks(queryset), content_type="application/json")
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    response["Content-Disposition"] = f'attachment; filename="audit-{name}-{stamp}.{fmt}"'
    return response
