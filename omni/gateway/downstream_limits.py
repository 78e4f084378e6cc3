"""Limits on what a downstream server may send the gateway (issue 7, quotas).

* ``max_response_bytes``: the bytes of one answer (tool result, prompt, resource read, one page of
  a listing). Over HTTP it is enforced while the body streams in (``ByteCap``, an httpx response
  hook): the gateway stops reading at the limit, so a 30 MB answer is never buffered. For stdio and
  in-process servers the SDK has already parsed the answer; its size is checked before it is passed
  on (``result_bytes``).
* ``max_list_items``: tools, prompts or resources of one server's listing; more is refused (the
  server is left out of the catalogue with a reason naming the limit).
* ``max_definition_bytes``: one tool, prompt or resource definition; a bigger one is left out.

Defaults come from settings (``MCP_DOWNSTREAM_MAX_*``); an organization overrides any of them in
``Organization.settings["downstream_limits"]`` (the way ``rate_limits`` are overridden).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2
from django.conf import settings

LIMIT_NAMES: tuple[str, ...] = ("max_response_bytes", "max_list_items", "max_definition_bytes")
SETTING_OF = {
    "max_response_bytes": "MCP_DOWNSTREAM_MAX_RESPONSE_BYTES",
    "max_list_items": "MCP_DOWNSTREAM_MAX_LIST_ITEMS",
    "max_definition_bytes": "MCP_DOWNSTREAM_MAX_DEFINITION_BYTES",
}
# A marker in the messages of limit errors, so they survive the SDK's error wrapping.
MARKER = "limit exceeded"


@dataclass(frozen=True)
class DownstreamLimits:
    max_response_bytes: int
    max_list_items: int
    max_definition_bytes: int

    @property
    def key(self) -> str:
        return f"{self.max_response_bytes}/{self.max_list_items}/{self.max_definition_bytes}"


def default_limits() -> DownstreamLimits:
    return DownstreamLimits(
        max_response_bytes=settings.MCP_DOWNSTREAM_MAX_RESPONSE_BYTES,
        max_list_items=settings.MCP_DOWNSTREAM_MAX_LIST_ITEMS,
        max_definition_bytes=settings.MCP_DOWNSTREAM_MAX_DEFINITION_BYTES,
    )


def validate_downstream_limits(value: Any) -> list[str]:
    """What is wrong with an ``Organization.settings["downstream_limits"]`` value (empty: valid)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return ["downstream_limits must be an object of name → number"]
    errors = []
    for name, limit in value.items():
        if name not in LIMIT_NAMES:
            errors.append(f"unknown downstream limit {name!r}; known: {', '.join(LIMIT_NAMES)}")
        elif isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1 << 31:
            errors.append(f"{name} must be a whole number from 1 to {1 << 31}")
    return errors


def limits_for(org: Any) -> DownstreamLimits:
    """The limits of ``org`` (an ``Organization`` or None): defaults with its valid overrides."""
    limits = default_limits()
    raw = getattr(org, "settings", None) if org is not None else None
    overrides = raw.get("downstream_limits") if isinstance(raw, dict) else None
    if not isinstance(overrides, dict):
        return limits
    valid = {k: v for k, v in overrides.items() if not validate_downstream_limits({k: v})}
    return DownstreamLimits(**{**limits.__dict__, **valid})


def too_large(what: str, limit_name: str, limit: int, size: int | None = None) -> str:
    seen = f" ({size} bytes)" if size is not None else ""
    return (
        f"{what} is larger than the {limit} byte limit{seen}; {MARKER}: {limit_name} "
        f"(setting {SETTING_OF[limit_name]}, per organization in settings.downstream_limits)"
    )


class ResponseTooLarge(httpx2.StreamError):
    """The body of a downstream HTTP response passed ``max_response_bytes``."""


class _CappedStream(httpx2.AsyncByteStream):
    def __init__(self, inner: Any, limit: int, declared: int | None) -> None:
        self.inner = inner
        self.limit = limit
        self.declared = declared

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.declared is not None and self.declared > self.limit:  # Content-Length says so
            raise ResponseTooLarge(
                too_large("the server's response", "max_response_bytes", self.limit, self.declared)
            )
        seen = 0
        async for chunk in self.inner:
            seen += len(chunk)
            if seen > self.limit:
                raise ResponseTooLarge(too_large("the server's response", "max_response_bytes", self.limit))
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


class ByteCap:
    """An httpx response hook that makes reading a body stop at ``limit`` bytes.

    The hook itself never raises (an exception there would end the SDK transport and every call
    on it): the body stream raises ``ResponseTooLarge`` (an ``httpx2.StreamError``, which the SDK
    turns into an error answer for that one request). Event streams are left to the SDK's own
    per-event limit (``max_sse_event_size``), which also answers only the request concerned."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    async def __call__(self, response: httpx2.Response) -> None:
        if response.headers.get("content-type", "").lower().startswith("text/event-stream"):
            return
        length = response.headers.get("content-length", "")
        declared = int(length) if length.isdigit() else None
        response.stream = _CappedStream(response.stream, self.limit, declared)


def result_bytes(result: Any) -> int:
    """About the bytes of an MCP result on the wire (text, blobs and structured content), cheap:
    no serialisation of the whole result."""
    total = 0
    for item in getattr(result, "content", None) or getattr(result, "contents", None) or ():
        total += len(getattr(item, "text", "") or "") + len(getattr(item, "data", "") or "")
        total += len(getattr(item, "blob", "") or "")
        resource = getattr(item, "resource", None)
        if resource is not None:
            total += len(getattr(resource, "text", "") or "") + len(getattr(resource, "blob", "") or "")
    for message in getattr(result, "messages", None) or ():
        content = getattr(message, "content", None)
        total += len(getattr(content, "text", "") or "") + len(getattr(content, "data", "") or "")
    if getattr(result, "structured_content", None):
        import json

        total += len(json.dumps(result.structured_content, default=str))
    return total
