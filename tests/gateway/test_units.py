"""The gateway's building blocks without a server process: session backends (Redis and memory),
version counters, pagination and argument validation."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid

import mcp_types as types
import pytest
from django.conf import settings
from mcp.shared.exceptions import MCPError

from omni.gateway import state
from omni.gateway.server import _page, validate_arguments
from omni.gateway.sessions import GET_STREAM, SessionRecord, make_event_id, parse_event_id
from omni.gateway.sessions_memory import MemorySessionBackend
from omni.gateway.sessions_redis import RedisSessionBackend


def _record(org_id: int = 1) -> SessionRecord:
    return SessionRecord(
        session_id=uuid.uuid4().hex,
        org_id=org_id,
        credential="key:x",
        protocol_version="2025-11-25",
        transport="streamable_http",
        client={"name": "t"},
        created=0.0,
    )


@pytest.fixture(params=["memory", "redis"])
def backend(request):
    if request.param == "memory":
        return MemorySessionBackend(idle_seconds=60, history=50)
    assert settings.REDIS_URL, "make test sets REDIS_URL"
    return RedisSessionBackend(settings.REDIS_URL, idle_seconds=60, history=50)


async def test_session_roundtrip_and_delete(backend):
    record = _record()
    await backend.create(record)
    loaded = await backend.get(record.session_id)
    assert loaded == record
    assert await backend.delete(record.session_id) is True
    assert await backend.get(record.session_id) is None
    assert await backend.delete(record.session_id) is False


async def test_events_are_ordered_and_resumable(backend):
    record = _record()
    await backend.create(record)
    first = await backend.append(record.session_id, GET_STREAM, '{"n": 1}')
    second = await backend.append(record.session_id, GET_STREAM, '{"n": 2}')
    stream_id, position = parse_event_id(first)
    assert stream_id == GET_STREAM
    after_first = await backend.read(record.session_id, GET_STREAM, position, 0)
    assert after_first == [(second, '{"n": 2}')]
    assert await backend.read(record.session_id, GET_STREAM, parse_event_id(second)[1], 50) == []


async def test_publish_reaches_only_that_organizations_sessions(backend):
    base = 10**9 + uuid.uuid4().int % 10**6
    mine, other = _record(org_id=base), _record(org_id=base + 1)
    for record in (mine, other):
        await backend.create(record)
    start_mine = parse_event_id(await backend.append(mine.session_id, GET_STREAM, ""))[1]
    start_other = parse_event_id(await backend.append(other.session_id, GET_STREAM, ""))[1]

    async def wait_for_event() -> list:
        return await backend.read(mine.session_id, GET_STREAM, start_mine, 5000)

    waiter = asyncio.ensure_future(wait_for_event())
    await asyncio.sleep(0.05)
    # Published from another thread, as a sync view or a Celery task would.
    thread = threading.Thread(target=backend.publish, args=(base, '{"method": "x"}'))
    thread.start()
    events = await asyncio.wait_for(waiter, 5)
    thread.join()
    assert [json.loads(data) for _id, data in events] == [{"method": "x"}]
    assert await backend.read(other.session_id, GET_STREAM, start_other, 0) == []
    assert backend.count_sessions(base) == 1


async def test_stream_claim_is_exclusive_until_released_or_forced(backend):
    record = _record()
    await backend.create(record)
    assert await backend.claim_stream(record.session_id, "a", 30)
    assert not await backend.claim_stream(record.session_id, "b", 30)
    assert await backend.claim_stream(record.session_id, "a", 30)  # the holder refreshes
    assert await backend.claim_stream(record.session_id, "c", 30, force=True)
    assert not await backend.claim_stream(record.session_id, "a", 30)  # taken over
    await backend.release_stream(record.session_id, "c")
    assert await backend.claim_stream(record.session_id, "b", 30)


def test_event_ids_survive_odd_stream_ids():
    for stream_id in ["_GET_stream", "42", "a b.c/é"]:
        event_id = make_event_id(stream_id, "1700000000000-3")
        assert event_id.isascii() and "\n" not in event_id
        assert parse_event_id(event_id) == (stream_id, "1700000000000-3")
    assert parse_event_id("garbage") is None


async def test_file_version_counters_without_redis(settings, tmp_path):
    settings.REDIS_URL = None
    settings.VAR_DIR = tmp_path
    assert await state.read_versions(["a", "b"]) == [0, 0]
    state.bump_versions(["a"])
    state.bump_versions(["a"])
    assert await state.read_versions(["a", "b"]) == [2, 0]


def test_pagination_cursors():
    items = list(range(12))
    page, cursor = _page(items, None, 5)
    assert page == [0, 1, 2, 3, 4] and cursor
    page, cursor = _page(items, types.PaginatedRequestParams(cursor=cursor), 5)
    assert page == [5, 6, 7, 8, 9]
    page, cursor = _page(items, types.PaginatedRequestParams(cursor=cursor), 5)
    assert page == [10, 11] and cursor is None
    for bad in ["!!", "eyJvIjogLTF9", "x" * 500]:
        with pytest.raises(MCPError):
            _page(items, types.PaginatedRequestParams(cursor=bad), 5)


def test_argument_validation_reports_every_problem():
    tool = types.Tool(
        name="t",
        input_schema={
            "type": "object",
            "properties": {
                "n": {"type": "integer", "minimum": 1},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["n"],
            "additionalProperties": False,
        },
    )
    assert validate_arguments(tool, {"n": 3, "tags": ["a"]}) == []
    problems = validate_arguments(tool, {"n": 0, "tags": [1], "extra": True})
    assert any(p.startswith("n:") for p in problems)
    assert any(p.startswith("tags/0:") for p in problems)
    assert any("extra" in p for p in problems)
    assert validate_arguments(tool, {}) == ["(root): 'n' is a required property"]
