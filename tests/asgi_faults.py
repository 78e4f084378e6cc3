"""The platform's ASGI application plus a few test-only routes that misbehave on purpose.

Served by a real server process (``live_server_factory.start(app=FAULT_APP)``, and by
``scripts/compare_servers.py``) to see what each ASGI server does with them. Everything outside
``/__fault__/`` is ``omni.asgi``'s application, and the whole is wrapped in the same
``ProcessLifecycle`` (requests in flight are counted, SIGTERM drains):

``GET /__fault__/explode``  starts a response, sends a part of the body, then raises: an exception
                            escaping a started streaming response (issue 14 part 2).
``GET /__fault__/raise``    raises before starting a response: the server must answer 500.
``GET /__fault__/slow?ms=N`` answers ``slept N`` after N milliseconds (a request in flight).
``GET /__fault__/inflight``  the number of HTTP requests in flight in this process (itself included).
``GET /__fault__/stream``   a ``text/event-stream`` that sends ``tick`` every 200 ms until the
                            process starts draining (``omni.lifecycle``), then ``event: end`` and
                            a clean end of the body — the shape of the gateway's long-lived streams.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any
from urllib.parse import parse_qs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omni.settings")

from django.conf import settings  # noqa: E402

from omni import lifecycle  # noqa: E402
from omni.asgi import application as omni_application  # noqa: E402
from omni.monitoring.shutdown import ProcessLifecycle  # noqa: E402

PREFIX = "/__fault__/"


async def _text(send: Any, status: int, body: bytes, content_type: bytes = b"text/plain") -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]}
    )
    await send({"type": "http.response.body", "body": body})


async def _faults(scope: dict, receive: Any, send: Any) -> None:
    name = scope["path"][len(PREFIX) :]
    query = parse_qs(scope.get("query_string", b"").decode())
    if name == "explode":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"partial ", "more_body": True})
        raise RuntimeError("test fault: exception after http.response.start")
    if name == "raise":
        raise RuntimeError("test fault: exception before http.response.start")
    if name == "slow":
        ms = min(int(query.get("ms", ["1000"])[0]), 60_000)
        await asyncio.sleep(ms / 1000)
        await _text(send, 200, f"slept {ms}".encode())
        return
    if name == "inflight":
        await _text(send, 200, str(application.in_flight).encode())
        return
    if name == "stream":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-store")],
            }
        )
        await send({"type": "http.response.body", "body": b"event: open\ndata: {}\n\n", "more_body": True})
        for _ in range(3000):  # at most 10 minutes
            try:
                await asyncio.wait_for(lifecycle.wait_draining(), 0.2)
                break
            except TimeoutError:
                await send({"type": "http.response.body", "body": b": tick\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b"event: end\ndata: {}\n\n", "more_body": False})
        return
    await _text(send, 404, b"no such fault")


async def _router(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"].startswith(PREFIX):
        await _faults(scope, receive, send)
        return
    await omni_application.app(scope, receive, send)


application = ProcessLifecycle(_router, grace_seconds=settings.OMNI_SHUTDOWN_GRACE_SECONDS)
