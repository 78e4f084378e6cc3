"""MCP sessions shared by every web process: the session table and the event streams.

A handshake-era session (Streamable HTTP 2025-xx, or the 2024-11-05 HTTP+SSE transport) is a small
record — organization, the credential that opened it, the negotiated protocol version, the client's
info — plus ordered event streams: one per request stream and one for the session's standalone
GET (or legacy SSE) stream. With ``REDIS_URL`` both live in Redis (a hash per session, a Redis
Stream per event stream), so any process serves any session, a session survives the restart of
the process that opened it, a notification published by one process is read by the GET stream
another process holds (``XREAD BLOCK``), and ``Last-Event-ID`` resumes from the same stream.
Without Redis (the embedded default, one process) the same interface is kept in memory.

Event ids are ``<stream key>.<position>``: visible ASCII, ordered within their stream.
"""

from __future__ import annotations

import base64
import contextvars
import json
import logging
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

GET_STREAM = "_GET_stream"  # the SDK's key for the standalone stream
PREFIX = "omni:mcp"
# Appended to a session's standalone stream when the session ends (DELETE, revoked key): the
# process holding its GET or SSE stream closes it at once instead of at the next keep-alive.
END_MARKER = "\x00end"
END_MARKER_TTL = 60


def new_session_id() -> str:
    """256 bits from the OS CSPRNG: unguessable, visible ASCII."""
    return secrets.token_urlsafe(32)


def _encode_stream(stream_id: str) -> str:
    return base64.urlsafe_b64encode(stream_id.encode()).decode().rstrip("=")


def _decode_stream(encoded: str) -> str:
    padding = "=" * (-len(encoded) % 4)
    return base64.urlsafe_b64decode(encoded + padding).decode()


def make_event_id(stream_id: str, position: str) -> str:
    return f"{_encode_stream(stream_id)}.{position}"


def parse_event_id(event_id: str) -> tuple[str, str] | None:
    """``(stream_id, position)`` of an event id, or None when it is not one of ours."""
    encoded, sep, position = event_id.partition(".")
    if not sep or not position:
        return None
    try:
        return _decode_stream(encoded), position
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass
class SessionRecord:
    session_id: str
    org_id: int
    credential: str
    protocol_version: str
    transport: str  # "streamable_http" | "sse"
    client: dict[str, Any]
    created: float

    def to_mapping(self) -> dict[str, str]:
        return {
            "org_id": str(self.org_id),
            "credential": self.credential,
            "protocol_version": self.protocol_version,
            "transport": self.transport,
            "client": json.dumps(self.client),
            "created": str(self.created),
        }

    @classmethod
    def from_mapping(cls, session_id: str, data: dict[str, str]) -> SessionRecord:
        return cls(
            session_id=session_id,
            org_id=int(data["org_id"]),
            credential=data["credential"],
            protocol_version=data["protocol_version"],
            transport=data["transport"],
            client=json.loads(data.get("client") or "{}"),
            created=float(data.get("created") or 0),
        )


class SessionBackend:
    """What the transports need from a session store. Two implementations below."""

    idle_seconds: int

    async def create(self, record: SessionRecord) -> None:
        raise NotImplementedError

    async def get(self, session_id: str) -> SessionRecord | None:
        """The session, its idle timer restarted; None when unknown or expired."""
        raise NotImplementedError

    async def delete(self, session_id: str) -> bool:
        raise NotImplementedError

    async def append(self, session_id: str, stream_id: str, data: str) -> str:
        """Append an event (JSON text, "" for a priming event); returns its event id."""
        raise NotImplementedError

    async def read(
        self, session_id: str, stream_id: str, after: str | None, block_ms: int
    ) -> list[tuple[str, str]]:
        """Events after position ``after`` ("$" or None: only new ones), waiting up to ``block_ms``."""
        raise NotImplementedError

    async def claim_stream(self, session_id: str, token: str, ttl: int, force: bool = False) -> bool:
        """Hold the session's one standalone stream (refreshed while held); ``force`` takes it over."""
        raise NotImplementedError

    async def release_stream(self, session_id: str, token: str) -> None:
        raise NotImplementedError

    def publish(self, org_id: int | None, data: str) -> int:
        """From any thread: append ``data`` to the standalone stream of every open session of
        ``org_id`` (all organizations when None). Returns how many sessions got it."""
        raise NotImplementedError

    def count_sessions(self, org_id: int) -> int:
        raise NotImplementedError

    def open_totals(self, deadline: float) -> tuple[int, int]:
        """(sessions, long-lived streams) open across every organization, for /metrics: from any
        thread, cheap, stopping at ``deadline`` (``time.monotonic()``) with what it counted."""
        raise NotImplementedError

    def append_sync(self, session_id: str, stream_id: str, data: str) -> str:
        """``append`` from any thread (sync code)."""
        raise NotImplementedError

    def end_credential_sessions(self, credential: str) -> int:
        """From any thread: end every session opened with ``credential`` (a revoked or deleted
        API key). Returns how many were open."""
        raise NotImplementedError

    def end_org_sessions(self, org_id: int) -> int:
        """From any thread: end every session of organization ``org_id`` (the organization is
        being deleted). Returns how many were open."""
        raise NotImplementedError

    # ------------------------------------------------------------------ per-session settings
    async def get_attr(self, session_id: str, name: str) -> str | None:
        """A setting the session keeps (``attr_*``: its log level, its resource subscriptions);
        None when unset or the session is gone. Ends with the session."""
        raise NotImplementedError

    async def set_attr(self, session_id: str, name: str, value: str) -> bool:
        """Keep a setting on the session; False when the session is gone."""
        raise NotImplementedError

    async def alive(self, session_id: str) -> bool:
        """Is the session open (without restarting its idle timer)?"""
        raise NotImplementedError

    # ------------------------------------------------------------------ quotas
    async def live_sessions(self, credential: str, org_id: int) -> tuple[int, int]:
        """How many sessions are open for ``credential`` and for ``org_id`` (expired ones are
        forgotten on the way)."""
        raise NotImplementedError

    async def acquire_stream_slot(
        self, credential: str, org_id: int, token: str, ttl: int, limits: tuple[int, int]
    ) -> str | None:
        """Count an open long-lived stream against ``limits`` (per key, per organization). Returns
        None when taken, else the name of the quota that is full. The slot lapses after ``ttl``
        seconds unless ``refresh_stream_slot`` renews it (a process that dies frees its slots)."""
        raise NotImplementedError

    async def refresh_stream_slot(self, credential: str, org_id: int, token: str, ttl: int) -> None:
        raise NotImplementedError

    async def release_stream_slot(self, credential: str, org_id: int, token: str) -> None:
        raise NotImplementedError

    async def history_bytes(self, session_id: str) -> int:
        """Bytes held by the session's request streams that are still replayable."""
        raise NotImplementedError

    # ------------------------------------------------------------------ request streams
    async def lease_request(self, session_id: str, stream_id: str, request_id: str, ttl: int) -> None:
        """Mark a request stream as being executed by this process (refresh before ``ttl`` ends);
        ``request_id`` is the JSON of the request's id."""
        raise NotImplementedError

    async def request_state(self, session_id: str, stream_id: str) -> tuple[bool, str | None]:
        """``(running, request id JSON)`` of a request stream: running while its lease lives."""
        raise NotImplementedError

    async def finish_request(self, session_id: str, stream_id: str, keep_seconds: int) -> None:
        """The request's response was delivered: its stream is kept ``keep_seconds`` (0: dropped)."""
        raise NotImplementedError

    async def sweep(self) -> int:
        """Remove expired sessions and everything they left (idempotent). Returns how many."""
        raise NotImplementedError


# The handshake-era session of the request being served (set by the transports before the SDK
# runs the request): handlers read per-session settings through it. None on 2026-07-28.
current_session: contextvars.ContextVar[SessionRecord | None] = contextvars.ContextVar(
    "omni_mcp_session", default=None
)

_backend: SessionBackend | None = None
_backend_lock = threading.Lock()


def get_backend() -> SessionBackend:
    global _backend
    with _backend_lock:
        if _backend is None:
            if settings.REDIS_URL:
                from omni.gateway.sessions_redis import RedisSessionBackend

                _backend = RedisSessionBackend(
                    settings.REDIS_URL, settings.MCP_SESSION_IDLE_SECONDS, settings.MCP_EVENT_HISTORY
                )
            else:
                from omni.gateway.sessions_memory import MemorySessionBackend

                _backend = MemorySessionBackend(settings.MCP_SESSION_IDLE_SECONDS, settings.MCP_EVENT_HISTORY)
        return _backend


def reset_backend() -> None:
    """Forget the backend (tests that change settings)."""
    global _backend
    with _backend_lock:
        _backend = None


LIST_CHANGED_METHODS = {
    "tools": "notifications/tools/list_changed",
    "prompts": "notifications/prompts/list_changed",
    "resources": "notifications/resources/list_changed",
}


CHANGES_STREAM = "changes"


def change_feed(org_id: int | None) -> str:
    """The pseudo-session whose ``changes`` stream carries an organization's (or the global)
    change kinds, read by 2026-07-28 ``subscriptions/listen`` streams."""
    return f"feed-org-{org_id}" if org_id is not None else "feed-global"


def publish_list_changed(org_id: int | None, kinds: set[str] | frozenset[str]) -> int:
    """Send ``notifications/<kind>/list_changed`` to every open session of the organization
    (handshake revisions) and to its ``subscriptions/listen`` streams (2026-07-28)."""
    backend = get_backend()
    delivered = 0
    for kind in sorted(kinds):
        message = {"jsonrpc": "2.0", "method": LIST_CHANGED_METHODS[kind]}
        delivered += backend.publish(org_id, json.dumps(message))
        backend.append_sync(change_feed(org_id), CHANGES_STREAM, kind)
    return delivered
