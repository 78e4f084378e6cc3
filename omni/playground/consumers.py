"""The playground's websocket: ``/ws/playground/<slug>/``.

Authenticated on connect (the session user must be a member of ``slug``: an anonymous connection
is closed with code 4403, a user who is not a member with 4404 — no hint that the organization
exists) and authorised on every message (the membership is resolved again, so a removed member or
a lowered role takes effect at once; a viewer may list and read but not call tools).

Client messages (JSON):

* ``{"type": "run", "id": "c1", "operation": "tools/call", "params": {...}, "protocol": "legacy"?}``
  runs one operation; the events ``request``, ``progress``/``log`` (as they arrive) and
  ``response`` or ``error`` come back with the same ``id`` and the time since the start (``at_ms``).
  The run is stored (history) and ``response``/``error`` carry its ``run_id``.
* ``{"type": "catalogue", "id": "c2"}`` answers one ``catalogue`` event: every tool, prompt,
  resource and resource template the organization's clients see (not stored).

Bad messages get ``{"type": "invalid", "id", "status": 400, "errors"}``; forbidden ones
``{"type": "denied", "id", "status": 403, "detail"}``.

Every operation (a run, each list page of a catalogue) draws one unit from the same per-user and
per-organization buckets as ``/mcp`` (``omni.security.buckets.acharge_mcp``). A refused one runs
nothing and is answered ``{"type": "error", "id", "status": 429, "retry_after", "error": {"code":
-32013, "message", "data": {"limit", "retry_after"}}}``; the first refusal per bucket and window is
audited (``ratelimit.hit``). The handshake's Origin is checked by ``omni.playground.origin``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import serializers

from omni.playground import services
from omni.playground.models import TestRun
from omni.playground.operations import PROTOCOLS, clean_params
from omni.playground.runner import run_operation
from omni.security.buckets import RATE_LIMITED_CODE, McpRefusal, acharge_mcp
from omni.tenants.context import OrgContext
from omni.tenants.services import aresolve_user_context

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4403
CLOSE_NOT_FOUND = 4404
MAX_IN_FLIGHT = 4
MAX_ID_LENGTH = 64
CATALOGUE_LISTS = (
    ("tools/list", "tools"),
    ("prompts/list", "prompts"),
    ("resources/list", "resources"),
    ("resources/templates/list", "resourceTemplates"),
)
MAX_PAGES = 50
DOOR = "websocket"


def rate_limited_frame(message_id: Any, refusal: McpRefusal) -> dict[str, Any]:
    """The answer to an operation refused by a rate limit (nothing ran, nothing is stored)."""
    return {
        "type": "error",
        "id": message_id,
        "status": 429,
        "retry_after": refusal.retry_after,
        "error": {
            "code": RATE_LIMITED_CODE,
            "message": refusal.message,
            "data": {"limit": refusal.limit, "retry_after": refusal.retry_after},
        },
    }


class PlaygroundConsumer(AsyncJsonWebsocketConsumer):
    # The MCP server operations go to: None is the gateway's own (what the organization's clients
    # get). A subclass may name another server object (tests do, for a server that reports progress).
    mcp_server: Any = None

    async def connect(self) -> None:
        self.tasks: set[asyncio.Task] = set()
        user = self.scope.get("user")
        slug = self.scope["url_route"]["kwargs"]["slug"]
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            await aresolve_user_context(user, slug)
        except Http404:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.slug = slug
        await self.send_json({"type": "ready", "organization": slug})

    async def disconnect(self, code: int) -> None:
        for task in getattr(self, "tasks", ()):
            task.cancel()

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if text_data is None:
            await self._invalid(None, ["Send JSON text frames."])
            return
        try:
            content = await self.decode_json(text_data)
        except ValueError:
            await self._invalid(None, ["Not valid JSON."])
            return
        await self.receive_json(content, **kwargs)

    async def _context(self) -> OrgContext | None:
        """The sender's current context (re-resolved for every message); closes when it is gone."""
        try:
            return await aresolve_user_context(self.scope["user"], self.slug)
        except Http404:
            await self.close(code=CLOSE_NOT_FOUND)
            return None

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not hasattr(self, "slug"):
            return
        if not isinstance(content, dict):
            await self.send_json(
                {"type": "invalid", "id": None, "status": 400, "errors": ["Send a JSON object."]}
            )
            return
        message_id = content.get("id")
        if (
            not isinstance(message_id, str | int)
            or isinstance(message_id, bool)
            or len(str(message_id)) > MAX_ID_LENGTH
        ):
            message_id = None
        kind = content.get("type", "run")
        if kind not in ("run", "catalogue"):
            await self._invalid(message_id, {"type": ["Expected 'run' or 'catalogue'."]})
            return
        if len(self.tasks) >= MAX_IN_FLIGHT:
            await self._invalid(message_id, {"id": [f"At most {MAX_IN_FLIGHT} operations may run at once."]})
            return
        ctx = await self._context()
        if ctx is None:
            return
        if kind == "catalogue":
            self._start(self._catalogue(ctx, message_id))
            return
        try:
            operation, params, protocol = self._parse(content)
            services.check_allowed(ctx, operation, params)
        except serializers.ValidationError as exc:
            await self._invalid(message_id, exc.detail)
            return
        except PermissionDenied as exc:
            await self.send_json({"type": "denied", "id": message_id, "status": 403, "detail": str(exc)})
            return
        refusal = await acharge_mcp(ctx, 1, door=DOOR)
        if refusal is not None:
            await self.send_json(rate_limited_frame(message_id, refusal))
            return
        self._start(self._run(ctx, message_id, operation, params, protocol))

    @staticmethod
    def _parse(content: dict[str, Any]) -> tuple[str, dict[str, Any], str | None]:
        operation = content.get("operation")
        if not isinstance(operation, str):
            raise serializers.ValidationError({"operation": ["This field is required."]})
        protocol = content.get("protocol")
        if protocol is not None and protocol not in PROTOCOLS:
            raise serializers.ValidationError({"protocol": [f"Expected one of {PROTOCOLS}."]})
        return operation, clean_params(operation, content.get("params")), protocol

    async def _invalid(self, message_id: Any, errors: Any) -> None:
        await self.send_json({"type": "invalid", "id": message_id, "status": 400, "errors": errors})

    def _start(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(
        self, ctx: OrgContext, message_id: Any, operation: str, params: dict[str, Any], protocol: str | None
    ) -> None:
        final: dict[str, Any] = {}

        async def forward(event: dict[str, Any]) -> None:
            if event["type"] in ("response", "error"):
                final.update(event)  # sent once the run is stored, with its id
                return
            await self.send_json({**event, "id": message_id})

        try:
            run, _result = await services.arun_and_record(
                ctx,
                operation,
                params,
                user=self.scope["user"],
                source=TestRun.Source.PLAYGROUND,
                protocol=protocol,
                on_event=forward,
                server=self.mcp_server,
            )
            await self.send_json({**final, "id": message_id, "run_id": str(run.public_id)})
        except Exception:
            logger.exception("playground run failed")
            await self.send_json(
                {"type": "error", "id": message_id, "error": {"code": -32603, "message": "internal error"}}
            )

    async def _catalogue(self, ctx: OrgContext, message_id: Any) -> None:
        answer: dict[str, Any] = {"type": "catalogue", "id": message_id, "errors": {}}
        for operation, key in CATALOGUE_LISTS:
            items: list[Any] = []
            cursor = None
            for _ in range(MAX_PAGES):
                refusal = await acharge_mcp(ctx, 1, door=DOOR)
                if refusal is not None:
                    await self.send_json(rate_limited_frame(message_id, refusal))
                    return
                params = {"cursor": cursor} if cursor else {}
                result = await run_operation(ctx, operation, params, server=self.mcp_server)
                if result.response is None:
                    answer["errors"][key] = result.error_text
                    break
                items.extend(result.response.get(key, []))
                if key == "tools":  # servers that are down: their tools are shown unavailable
                    status = (result.response.get("_meta") or {}).get("io.omni/catalogue") or {}
                    answer["unavailable"] = status.get("unavailable") or {}
                    answer["withheld"] = status.get("withheld") or {}
                cursor = result.response.get("nextCursor")
                if not cursor:
                    break
            answer[key] = items
        await self.send_json(answer)
