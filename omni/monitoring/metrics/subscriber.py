"""The gateway's request observer (``omni.gateway.observe``) feeding the MCP metrics.

Runs on the request path, on the event loop: a dictionary lookup for the label set's child (cached
per process) and one histogram observation; no I/O. ``METRICS_ORG_LABEL`` decides whether the
organization's slug becomes a label value (otherwise "").
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from omni.gateway.observe import OK, REFUSED, RequestRecord
from omni.monitoring.metrics import instruments

_children: dict[tuple[str, ...], Any] = {}
_refusals: dict[tuple[str, ...], Any] = {}
# A ceiling on cached children (the label values come from clients: tool names they send).
MAX_CACHED = 10_000
# Label values come from clients (a method or a tool name that does not exist is still a request
# to count): methods outside the protocol's are "other", and a process labels at most
# MAX_NAMES distinct tool/prompt names; later new names are counted as "other".
METHODS = frozenset(
    {
        "initialize",
        "ping",
        "server/discover",
        "tools/list",
        "tools/call",
        "prompts/list",
        "prompts/get",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "subscriptions/listen",
        "completion/complete",
        "logging/setLevel",
        "tasks/get",
        "tasks/list",
        "tasks/result",
        "tasks/cancel",
        "",  # refused before the body was read (a GET stream)
    }
)
MAX_NAMES = 1000
_names: set[str] = set()


def _name(value: str) -> str:
    if value in _names:
        return value
    if len(_names) < MAX_NAMES:
        _names.add(value)
        return value
    return "other"


def labels_for(record: RequestRecord, org_label: bool) -> tuple[str, ...]:
    method = record.method if record.method in METHODS else "other"
    tool = _name(record.target) if method == "tools/call" else ""
    prompt = _name(record.target) if method == "prompts/get" else ""
    error_type = "" if record.outcome == OK else (record.error_type or record.outcome)
    org = record.org_slug if org_label else ""
    return (method, tool, prompt, error_type, record.outcome, record.server, record.transport, org)


def observe(record: RequestRecord) -> None:
    org_label = settings.METRICS_ORG_LABEL
    key = labels_for(record, org_label)
    child = _children.get(key)
    if child is None:
        child = instruments.mcp_operation_duration.labels(*key)
        if len(_children) < MAX_CACHED:
            _children[key] = child
    child.observe(record.duration)
    if record.outcome == REFUSED:
        rkey = (record.error_type or "refused", record.detail, key[0], key[-1])
        counter = _refusals.get(rkey)
        if counter is None:
            counter = instruments.gateway_refusals.labels(*rkey)
            if len(_refusals) < MAX_CACHED:
                _refusals[rkey] = counter
        counter.inc()


def reset_cache() -> None:
    """Forget cached children (tests that change METRICS_ORG_LABEL)."""
    _children.clear()
    _refusals.clear()
    _names.clear()
