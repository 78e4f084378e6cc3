"""Sessions shared across web processes (PostgreSQL + Redis), resumable GET streams."""

from __future__ import annotations

import json
import threading
import time

import anyio
import httpx2
import pytest
from django.conf import settings

from omni.registry.models import Prompt
from tests.gateway import rawmcp

pytestmark = pytest.mark.live

V = "2025-11-25"


class StreamReader:
    """Reads a session's GET stream in a thread and collects its events (id, data)."""

    def __init__(self, url: str, key: str, session: str, last_event_id: str | None = None) -> None:
        self.events: list[tuple[str | None, dict]] = []
        self.status: int | None = None
        self.opened = threading.Event()
        self._stop = False
        headers = {
            "Authorization": f"Bearer {key}",
            "Mcp-Session-Id": session,
            "Accept": "text/event-stream",
            "MCP-Protocol-Version": V,
        }
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self._thread = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self._thread.start()
        assert self.opened.wait(10), "GET stream did not open"

    def _run(self, url: str, headers: dict) -> None:
        try:
            with httpx2.stream("GET", url, headers=headers, timeout=httpx2.Timeout(5, read=30)) as response:
                self.status = response.status_code
                self.opened.set()
                event_id = None
                for line in response.iter_lines():
                    if self._stop:
                        return
                    if line.startswith("id:"):
                        event_id = line[3:].strip()
                    elif line.startswith("data:") and line[5:].strip():
                        self.events.append((event_id, json.loads(line[5:])))
                    elif line == "":
                        event_id = None
        except httpx2.HTTPError:
            self.opened.set()

    def wait_for(self, method: str, count: int = 1, timeout: float = 15) -> list[tuple[str | None, dict]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.events if e[1].get("method") == method]
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no {method} on the stream; got {self.events}")

    def close(self) -> None:
        self._stop = True


@pytest.fixture
def two_processes(live_server_factory):
    assert settings.REDIS_URL, "the shared-session tests need REDIS_URL (make test sets it)"
    a = live_server_factory.start(name="web-a")
    b = live_server_factory.start(name="web-b")
    yield a, b
    a.stop()
    b.stop()


def test_session_moves_between_processes_and_survives_restart(two_processes, acme, globex):
    a, b = two_processes
    session, result = rawmcp.initialize(a.mcp_url, acme.key, V)
    assert result["protocolVersion"] == V

    # Opened on A, continued on B.
    listed = rawmcp.rpc(b.mcp_url, acme.key, session, "tools/list", version=V)
    assert "utilities__calculate" in {t["name"] for t in listed["result"]["tools"]}
    called = rawmcp.rpc(
        b.mcp_url,
        acme.key,
        session,
        "tools/call",
        {"name": "knowledge__create_note", "arguments": {"title": "moved", "body": "b"}},
        version=V,
    )
    assert called["result"]["isError"] is False

    # A restarts: the session it opened still works there.
    a.restart()
    again = rawmcp.rpc(
        a.mcp_url,
        acme.key,
        session,
        "tools/call",
        {"name": "knowledge__search_notes", "arguments": {"query": "moved"}},
        version=V,
    )
    assert again["result"]["isError"] is False
    assert "moved" in json.dumps(again["result"])

    # Another credential presenting the id is refused on both processes, like an unknown id.
    for process in (a, b):
        foreign = rawmcp.post(
            process.mcp_url,
            {"jsonrpc": "2.0", "id": 5, "method": "ping"},
            key=globex.key,
            session=session,
            version=V,
        )
        assert foreign.status_code == 404


def test_notification_published_elsewhere_reaches_get_stream(two_processes, acme, globex, committed):
    a, b = two_processes
    session, _ = rawmcp.initialize(a.mcp_url, acme.key, V)
    other_session, _ = rawmcp.initialize(a.mcp_url, globex.key, V)
    reader = StreamReader(b.mcp_url, acme.key, session)  # the stream is held by B
    other = StreamReader(a.mcp_url, globex.key, other_session)
    assert reader.status == 200
    try:
        # This (test) process changes acme's registry; the change is published after commit.
        Prompt.objects.create(
            organization=acme.org, name="fresh", messages=[{"role": "user", "content": "x"}]
        )
        (event,) = reader.wait_for("notifications/prompts/list_changed")
        # The change is visible on the very next request, through either process.
        listed = rawmcp.rpc(a.mcp_url, acme.key, session, "prompts/list", version=V)
        assert "fresh" in {p["name"] for p in listed["result"]["prompts"]}
        time.sleep(0.5)
        assert not [e for e in other.events if e[1].get("method") == "notifications/prompts/list_changed"], (
            "globex's session must not hear about acme's change"
        )
    finally:
        reader.close()
        other.close()


def test_second_get_stream_conflicts(two_processes, acme):
    a, b = two_processes
    session, _ = rawmcp.initialize(a.mcp_url, acme.key, V)
    reader = StreamReader(a.mcp_url, acme.key, session)
    try:
        second = httpx2.get(
            b.mcp_url,
            headers={
                "Authorization": f"Bearer {acme.key}",
                "Mcp-Session-Id": session,
                "Accept": "text/event-stream",
            },
            timeout=5,
        )
        assert second.status_code == 409
    finally:
        reader.close()


def test_last_event_id_resumes_a_broken_stream(two_processes, acme, committed):
    a, b = two_processes
    session, _ = rawmcp.initialize(a.mcp_url, acme.key, V)
    first = StreamReader(a.mcp_url, acme.key, session)
    Prompt.objects.create(organization=acme.org, name="one", messages=[{"role": "user", "content": "1"}])
    ((event_id, _message),) = first.wait_for("notifications/prompts/list_changed")
    assert event_id
    first.close()
    a.kill()  # the process holding the stream dies
    time.sleep(0.5)

    # Published while nobody listens…
    Prompt.objects.create(organization=acme.org, name="two", messages=[{"role": "user", "content": "2"}])
    Prompt.objects.create(organization=acme.org, name="three", messages=[{"role": "user", "content": "3"}])
    # …and replayed to the client that resumes on the other process (the stream lock of the dead
    # holder expires; retry until it does).
    deadline = time.monotonic() + 40
    while True:
        resumed = StreamReader(b.mcp_url, acme.key, session, last_event_id=event_id)
        if resumed.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(1)
    try:
        assert resumed.status == 200
        replayed = resumed.wait_for("notifications/prompts/list_changed", count=2)
        assert len(replayed) == 2
        assert all(e[0] and e[0] != event_id for e in replayed)
    finally:
        resumed.close()


async def test_modern_listen_stream_hears_changes_from_another_process(two_processes, acme, globex):
    """2026-07-28 clients have no session: they hear changes on a subscriptions/listen stream."""
    from asgiref.sync import sync_to_async

    from tests.gateway.conftest import connect

    a, b = two_processes
    async with connect(b.mcp_url, acme.key) as client, connect(b.mcp_url, globex.key) as other:
        assert client.protocol_version == "2026-07-28"
        assert client.server_capabilities.prompts.list_changed is True
        async with (
            client.listen(prompts_list_changed=True, tools_list_changed=True) as subscription,
            other.listen(prompts_list_changed=True) as other_subscription,
        ):
            assert subscription.honored.prompts_list_changed is True
            await sync_to_async(Prompt.objects.create)(
                organization=acme.org, name="heard", messages=[{"role": "user", "content": "x"}]
            )
            with anyio.fail_after(15):
                event = await subscription.__anext__()
            assert type(event).__name__ == "PromptsListChanged"
            assert "heard" in {p.name for p in (await client.list_prompts()).prompts}
            with anyio.move_on_after(1) as quiet:
                await other_subscription.__anext__()
            assert quiet.cancelled_caught, "globex must not hear about acme's change"


def test_revoking_a_key_ends_its_sessions_and_streams(two_processes, acme, committed):
    import asyncio

    from omni.gateway.sessions import get_backend
    from omni.tenants.services import revoke_api_key

    a, b = two_processes
    session, _ = rawmcp.initialize(a.mcp_url, acme.key, V)
    reader = StreamReader(b.mcp_url, acme.key, session)
    assert reader.status == 200
    assert asyncio.run(get_backend().get(session)) is not None

    revoke_api_key(acme.api_key)

    reader._thread.join(timeout=10)
    assert not reader._thread.is_alive(), "the GET stream of a revoked key's session must close"
    assert asyncio.run(get_backend().get(session)) is None
    response = rawmcp.post(
        a.mcp_url, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, key=acme.key, session=session, version=V
    )
    assert response.status_code == 401
