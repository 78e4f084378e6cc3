"""The session store's bookkeeping without a server process, on both backends: request leases,
delivered streams, history bytes, stream slots, live-session counts, the sweep; and the stream
pump's clean endings (errors, draining) against a real ASGI send."""

from __future__ import annotations

import json
import uuid

import anyio
import pytest
from django.conf import settings

from omni import lifecycle
from omni.gateway.sessions import GET_STREAM, SessionRecord, parse_event_id
from omni.gateway.sessions_memory import MemorySessionBackend
from omni.gateway.sessions_redis import RedisSessionBackend
from omni.gateway.streams import pump_events, sse_event


def _record(credential: str = "key:q", org_id: int = 99) -> SessionRecord:
    return SessionRecord(
        session_id=uuid.uuid4().hex,
        org_id=org_id,
        credential=credential,
        protocol_version="2025-11-25",
        transport="streamable_http",
        client={},
        created=0.0,
    )


@pytest.fixture(params=["memory", "redis"])
def backend(request):
    if request.param == "memory":
        return MemorySessionBackend(idle_seconds=60, history=50)
    assert settings.REDIS_URL, "make test sets REDIS_URL"
    return RedisSessionBackend(settings.REDIS_URL, idle_seconds=60, history=50)


async def test_request_lease_history_and_delivery(backend):
    record = _record()
    await backend.create(record)
    await backend.lease_request(record.session_id, "7", "7", 30)
    await backend.append(record.session_id, "7", "")
    await backend.append(
        record.session_id, "7", json.dumps({"jsonrpc": "2.0", "method": "x", "params": "y" * 500})
    )
    assert await backend.request_state(record.session_id, "7") == (True, "7")
    assert await backend.history_bytes(record.session_id) > 500
    await backend.finish_request(record.session_id, "7", 0)
    assert await backend.request_state(record.session_id, "7") == (False, None)
    assert await backend.history_bytes(record.session_id) == 0
    assert await backend.read(record.session_id, "7", "0", 0) == []


async def test_stream_slots_and_session_counts(backend):
    credential = f"key:{uuid.uuid4().hex}"
    org = int(uuid.uuid4().int % 10**9)
    assert await backend.acquire_stream_slot(credential, org, "a", 60, (2, 10)) is None
    assert await backend.acquire_stream_slot(credential, org, "b", 60, (2, 10)) is None
    assert await backend.acquire_stream_slot(credential, org, "c", 60, (2, 10)) == "streams_per_key"
    assert await backend.acquire_stream_slot(f"{credential}-2", org, "d", 60, (5, 2)) == "streams_per_org"
    await backend.release_stream_slot(credential, org, "a")
    assert await backend.acquire_stream_slot(credential, org, "c", 60, (2, 10)) is None

    first, second = _record(credential, org), _record(credential, org)
    await backend.create(first)
    await backend.create(second)
    assert await backend.live_sessions(credential, org) == (2, 2)
    await backend.delete(first.session_id)
    assert await backend.live_sessions(credential, org) == (1, 1)


async def test_sweep_is_idempotent(backend):
    record = _record()
    await backend.create(record)
    await backend.sweep()
    assert await backend.get(record.session_id) is not None  # a live session stays
    await backend.sweep()
    assert await backend.get(record.session_id) is not None


class _Send:
    def __init__(self, fail_after: int | None = None) -> None:
        self.messages: list[dict] = []
        self.fail_after = fail_after

    async def __call__(self, message: dict) -> None:
        if self.fail_after is not None and len(self.messages) >= self.fail_after:
            raise OSError("client gone")
        self.messages.append(message)


async def _never_disconnect() -> dict:
    await anyio.sleep_forever()
    return {}


class _BrokenBackend(MemorySessionBackend):
    async def read(self, *args, **kwargs):
        raise ConnectionError("Redis went away")


async def test_pump_ends_cleanly_when_the_store_fails():
    backend = _BrokenBackend(idle_seconds=60, history=50)
    record = _record()
    await backend.create(record)
    send = _Send()
    with anyio.fail_after(10):
        reason = await pump_events(
            backend=backend,
            session_id=record.session_id,
            stream_id=GET_STREAM,
            after="0",
            receive=_never_disconnect,
            send=send,
            render=sse_event,
        )
    assert reason.startswith("error")
    assert send.messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


async def test_pump_ends_cleanly_when_the_process_drains():
    backend = MemorySessionBackend(idle_seconds=60, history=50)
    record = _record()
    await backend.create(record)
    position = parse_event_id(await backend.append(record.session_id, GET_STREAM, ""))[1]
    send = _Send()
    lifecycle.reset_for_tests()
    try:
        async with anyio.create_task_group() as tg:

            async def pump() -> None:
                nonlocal reason
                reason = await pump_events(
                    backend=backend,
                    session_id=record.session_id,
                    stream_id=GET_STREAM,
                    after=position,
                    receive=_never_disconnect,
                    send=send,
                    render=sse_event,
                )

            reason = ""
            tg.start_soon(pump)
            await backend.append(record.session_id, GET_STREAM, '{"jsonrpc": "2.0", "method": "m"}')
            with anyio.fail_after(10):
                while not send.messages:
                    await anyio.sleep(0.01)
            lifecycle.start_draining()
    finally:
        lifecycle.reset_for_tests()
    assert reason == "draining"
    assert b'"method": "m"' in send.messages[0]["body"]
    assert send.messages[-1]["more_body"] is False


async def test_resumed_request_stream_without_owner_gets_an_error():
    backend = MemorySessionBackend(idle_seconds=60, history=50)
    record = _record()
    await backend.create(record)
    position = parse_event_id(await backend.append(record.session_id, "5", ""))[1]
    await backend.lease_request(record.session_id, "5", '"five"', 2)  # a lease that lapses
    send = _Send()
    with anyio.fail_after(20):
        reason = await pump_events(
            backend=backend,
            session_id=record.session_id,
            stream_id="5",
            after=position,
            receive=_never_disconnect,
            send=send,
            render=sse_event,
            stop_on_response=True,
        )
    assert reason == "executor lost"
    body = send.messages[0]["body"].decode()
    error = json.loads(body.split("data: ", 1)[1])
    assert error["id"] == "five" and error["error"]["code"] == -32603
