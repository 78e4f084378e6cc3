"""The platform's ASGI application with a recording observer: ``GET /__observed__`` answers the
``RequestRecord``s this process emitted so far (JSON list), for tests of the observation call sites.
Served by a real server process (``live_server_factory.start(app=OBSERVE_APP)``)."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omni.settings")

from omni.asgi import application as omni_application  # noqa: E402
from omni.gateway import observe  # noqa: E402

records: list[dict] = []


def _record(record: observe.RequestRecord) -> None:
    if len(records) < 10_000:
        records.append(dataclasses.asdict(record))


observe.subscribe(_record)


async def application(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"] == "/__observed__":
        body = json.dumps(records).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return
    await omni_application(scope, receive, send)
