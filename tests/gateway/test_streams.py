"""Long-lived streams, orphaned requests, Redis holding state rather than traffic, and the session,
stream and history quotas (issue 14 parts 1, 4, 7; issue 7 part 3). Real daphne processes, the
official SDK clients where they can express the case, raw HTTP where they cannot."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import anyio
import httpx2
import mcp_types as types
import pytest
from asgiref.sync import sync_to_async
from mcp.shared.exceptions import MCPError

from omni.audit.models import AuditEvent
from omni.gateway.sessions import reset_backend
from omni.registry.models import Prompt, ServerConnection
from tests.gateway import rawmcp
from tests.gateway.conftest import connect, connect_sse

pytestmark = pytest.mark.live

V = "2025-11-25"
SLOW = str(Path(__file__).with_name("slow_server.py"))
SILENCE_SECONDS = 31


def _collector(received: list, method: str):
    async def handler(message) -> None:
        if isinstance(message, types.ServerNotification) and message.method == method:
            received.append(message)
        await anyio.lowlevel.checkpoint()

    return handler


async def _wait_for(received: list, timeout: float = 20) -> None:
    with anyio.fail_after(timeout):
        while not received:
            await anyio.sleep(0.1)


def _log_has_no_traceback(server) -> None:
    logs = server.logs()
    assert "Traceback" not in logs, logs[-4000:]


@pytest.fixture
def publish_via(private_redis, settings):
    """This test process publishes registry changes through ``private_redis`` (so a live server on
    it hears them, also where the suite runs without Redis)."""
    settings.REDIS_URL = private_redis.url
    reset_backend()
    yield private_redis
    reset_backend()


async def test_idle_streams_hear_a_change_after_30s_of_silence(publish_via, live_server_factory, acme):
    """A GET /mcp stream, a subscriptions/listen and a legacy /sse session each stay open through
    30 s of silence (the SDK clients' read timeout is 30 s: only keep-alives keep them alive) and
    then receive the notification."""
    server = live_server_factory.start(env={"MCP_KEEPALIVE_SECONDS": "10", "REDIS_URL": publish_via.url})
    method = "notifications/prompts/list_changed"
    on_get: list = []
    on_sse: list = []
    async with (
        connect(
            server.mcp_url, acme.key, mode="legacy", message_handler=_collector(on_get, method)
        ) as legacy,
        connect_sse(server.sse_url, acme.key, message_handler=_collector(on_sse, method)) as old,
        connect(server.mcp_url, acme.key) as modern,
        modern.listen(prompts_list_changed=True) as subscription,
    ):
        assert legacy.protocol_version != "2026-07-28" and old.protocol_version != "2026-07-28"
        await anyio.sleep(SILENCE_SECONDS)
        await sync_to_async(Prompt.objects.create)(
            organization=acme.org, name="after-silence", messages=[{"role": "user", "content": "x"}]
        )
        with anyio.fail_after(20):
            event = await subscription.__anext__()
        assert type(event).__name__ == "PromptsListChanged"
        await _wait_for(on_get)
        await _wait_for(on_sse)
        # The sessions still serve calls after the silence.
        assert "after-silence" in {p.name for p in (await legacy.list_prompts()).prompts}
        assert "after-silence" in {p.name for p in (await old.list_prompts()).prompts}
    _log_has_no_traceback(server)


def _post_stream(url: str, key: str, session: str, payload: dict, seen: list, done: threading.Event) -> None:
    """POST ``payload`` in a thread and collect the SSE lines of its answer until it ends."""
    headers = {
        "Authorization": f"Bearer {key}",
        "Mcp-Session-Id": session,
        "Accept": rawmcp.ACCEPT,
        "Content-Type": "application/json",
        "MCP-Protocol-Version": V,
    }
    try:
        with httpx2.stream(
            "POST", url, content=json.dumps(payload), headers=headers, timeout=httpx2.Timeout(5, read=120)
        ) as response:
            for line in response.iter_lines():
                seen.append(line)
    except httpx2.HTTPError as exc:
        seen.append(f"error: {exc!r}")
    finally:
        done.set()


def test_resumed_request_of_a_killed_process_gets_a_prompt_error(private_redis, live_server_factory, acme):
    env = {"MCP_REQUEST_LEASE_SECONDS": "3", "REDIS_URL": private_redis.url}
    a = live_server_factory.start(name="web-orphan-a", env=env)
    b = live_server_factory.start(name="web-orphan-b", env=env)
    ServerConnection.objects.create(
        organization=acme.org,
        name="slow",
        transport="stdio",
        command=sys.executable,
        args=[SLOW],
        timeout_seconds=300,
    )
    session, _ = rawmcp.initialize(a.mcp_url, acme.key, V)
    seen: list[str] = []
    done = threading.Event()
    call = {
        "jsonrpc": "2.0",
        "id": 41,
        "method": "tools/call",
        "params": {"name": "slow__hang", "arguments": {}},
    }
    threading.Thread(
        target=_post_stream, args=(a.mcp_url, acme.key, session, call, seen, done), daemon=True
    ).start()
    deadline = time.monotonic() + 30
    while not any(line.startswith("id:") for line in seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    priming = next(line[3:].strip() for line in seen if line.startswith("id:"))
    assert not done.is_set()

    a.kill()  # the process executing the call dies mid-call
    assert done.wait(10)

    resumed = httpx2.get(
        b.mcp_url,
        headers={
            "Authorization": f"Bearer {acme.key}",
            "Mcp-Session-Id": session,
            "Accept": "text/event-stream",
            "MCP-Protocol-Version": V,
            "Last-Event-ID": priming,
        },
        timeout=httpx2.Timeout(5, read=60),
    )
    assert resumed.status_code == 200
    (answer,) = rawmcp.parse_sse(resumed.text)
    assert answer["id"] == 41
    assert answer["error"]["code"] == -32603
    assert "outcome unknown" in answer["error"]["message"]
    # Another call in the same session still works on the surviving process.
    assert rawmcp.rpc(b.mcp_url, acme.key, session, "ping", version=V)["result"] == {}


def _session_keys(redis_cli, session: str) -> list[str]:
    return [k for k in redis_cli("--scan", "--pattern", f"*{session}*").split() if k]


def _keys_but_usage(redis_cli) -> int:
    """Keys in Redis apart from the usage counters (omni/monitoring/usage: one hash per minute and
    the set of changed minutes, whatever the traffic; they expire)."""
    return len([k for k in redis_cli("--scan").split() if k and not k.startswith("omni:usage:")])


def test_redis_holds_state_not_traffic(private_redis, live_server_factory, acme):
    server = live_server_factory.start(
        name="web-keys", env={"REDIS_URL": private_redis.url, "MCP_DELIVERED_STREAM_SECONDS": "0"}
    )
    session, _ = rawmcp.initialize(server.mcp_url, acme.key, V)
    rawmcp.rpc(server.mcp_url, acme.key, session, "tools/list", version=V)
    warm = {"name": "utilities__calculate", "arguments": {"expression": "0"}}
    rawmcp.rpc(server.mcp_url, acme.key, session, "tools/call", warm, version=V, request_id=99)
    baseline = _keys_but_usage(private_redis.cli)  # the audit spool's stream exists from here on
    for n in range(60):
        answer = rawmcp.rpc(
            server.mcp_url,
            acme.key,
            session,
            "tools/call",
            {"name": "utilities__calculate", "arguments": {"expression": f"{n} + 1"}},
            version=V,
            request_id=100 + n,
        )
        assert answer["result"]["isError"] is False
    # 60 answered requests leave no request stream behind: at most the rate-limit counters of a
    # new minute window (key and organization) if the loop crossed one.
    assert _keys_but_usage(private_redis.cli) <= baseline + 2
    streams = [k for k in _session_keys(private_redis.cli, session) if ":ev:" in k]
    assert streams == [], streams

    # The legacy transport: each POST /messages/ answers on the session's one stream.
    legacy_before = _keys_but_usage(private_redis.cli)
    with httpx2.stream(
        "GET",
        server.sse_url,
        headers={"Authorization": f"Bearer {acme.key}"},
        timeout=httpx2.Timeout(5, read=30),
    ) as stream:
        lines = stream.iter_lines()
        endpoint = next(line[5:].strip() for line in lines if line.startswith("data:"))
        for n in range(30):
            posted = httpx2.post(
                f"{server.url}{endpoint}",
                json={"jsonrpc": "2.0", "id": n, "method": "ping"},
                headers={"Authorization": f"Bearer {acme.key}"},
                timeout=10,
            )
            assert posted.status_code == 202
        assert _keys_but_usage(private_redis.cli) <= legacy_before + 8

    # DELETE removes the session's own keys (only the end marker of its GET stream stays, briefly).
    deleted = httpx2.delete(
        server.mcp_url,
        headers={"Authorization": f"Bearer {acme.key}", "Mcp-Session-Id": session, "MCP-Protocol-Version": V},
        timeout=10,
    )
    assert deleted.status_code == 200
    left = _session_keys(private_redis.cli, session)
    assert all(":ev:" in key for key in left) and len(left) <= 1, left
    _log_has_no_traceback(server)


def test_expired_sessions_are_swept(private_redis, live_server_factory, acme):
    server = live_server_factory.start(
        name="web-sweep",
        env={
            "REDIS_URL": private_redis.url,
            "MCP_SESSION_IDLE_SECONDS": "10",
            "MCP_SESSION_SWEEP_SECONDS": "1",
        },
    )
    session, _ = rawmcp.initialize(server.mcp_url, acme.key, V)
    org_set = f"omni:mcp:org:{acme.org.pk}"
    assert private_redis.cli("SISMEMBER", org_set, session) == "1"
    deadline = time.monotonic() + 40
    while private_redis.cli("SISMEMBER", org_set, session) == "1" and time.monotonic() < deadline:
        rawmcp.post(
            server.mcp_url, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, key=acme.key, version="2026-07-28"
        )
        time.sleep(1)
    assert private_redis.cli("SISMEMBER", org_set, session) == "0"
    assert _session_keys(private_redis.cli, session) == []


def _audited_quota(org, quota: str) -> bool:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if any(
            (e.data or {}).get("quota") == quota
            for e in AuditEvent.objects.filter(organization=org, action="quota.refused")
        ):
            return True
        time.sleep(0.2)
    return False


def _assert_quota_refusal(response: httpx2.Response, quota: str) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["jsonrpc"] == "2.0"
    assert body["error"]["data"]["quota"] == quota, body
    assert quota.replace("_", " ") in body["error"]["message"]


async def test_quotas_on_sessions_streams_and_history(live_server_factory, acme, globex):
    server = live_server_factory.start(
        name="web-quota",
        env={
            "MCP_QUOTA_SESSIONS_PER_KEY": "2",
            "MCP_QUOTA_STREAMS_PER_KEY": "1",
            "MCP_QUOTA_HISTORY_BYTES_PER_SESSION": "1024",
        },
    )
    # Sessions per key: two open, the third refused; globex's override allows more.
    for _ in range(2):
        await sync_to_async(rawmcp.initialize)(server.mcp_url, acme.key, V)
    third = await sync_to_async(rawmcp.post)(
        server.mcp_url,
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": V, "capabilities": {}, "clientInfo": {"name": "q", "version": "1"}},
        },
        key=acme.key,
    )
    _assert_quota_refusal(third, "sessions_per_key")
    assert await sync_to_async(_audited_quota)(acme.org, "sessions_per_key")

    globex.org.settings = {
        **(globex.org.settings or {}),
        "quotas": {"sessions_per_key": 4, "streams_per_key": 2},
    }
    await sync_to_async(globex.org.save)()
    sessions = [await sync_to_async(rawmcp.initialize)(server.mcp_url, globex.key, V) for _ in range(3)]

    # Streams per key: globex may hold two (its override), the third is refused on every door.
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(5, read=30)) as http:
        headers = {
            "Authorization": f"Bearer {globex.key}",
            "Accept": "text/event-stream",
            "MCP-Protocol-Version": V,
        }
        async with (
            http.stream(
                "GET", server.mcp_url, headers={**headers, "Mcp-Session-Id": sessions[0][0]}
            ) as first,
            http.stream(
                "GET", server.mcp_url, headers={**headers, "Mcp-Session-Id": sessions[1][0]}
            ) as second,
        ):
            assert first.status_code == 200 and second.status_code == 200
            third_stream = await http.get(
                server.mcp_url, headers={**headers, "Mcp-Session-Id": sessions[2][0]}
            )
            _assert_quota_refusal(third_stream, "streams_per_key")
            sse = await http.get(server.sse_url, headers={"Authorization": f"Bearer {globex.key}"})
            _assert_quota_refusal(sse, "streams_per_key")
            async with connect(server.mcp_url, globex.key) as client:
                with pytest.raises(MCPError) as caught:
                    async with client.listen(prompts_list_changed=True):
                        pass
                assert "streams per key quota" in caught.value.error.message
        # Closed streams give their slots back.
        async with http.stream(
            "GET", server.mcp_url, headers={**headers, "Mcp-Session-Id": sessions[2][0]}
        ) as again:
            assert again.status_code == 200
    assert await sync_to_async(_audited_quota)(globex.org, "streams_per_key")

    # History bytes per session: a call in flight holds >1 KiB of undelivered events; the next
    # request of that session is refused until the history is delivered.
    await sync_to_async(ServerConnection.objects.create)(
        organization=globex.org,
        name="slow",
        transport="stdio",
        command=sys.executable,
        args=[SLOW],
        timeout_seconds=60,
    )
    session = sessions[2][0]
    await sync_to_async(rawmcp.wait_for_tool)(
        server.mcp_url, globex.key, session, "slow__noisy_hang", version=V
    )
    seen: list[str] = []
    done = threading.Event()
    call = {
        "jsonrpc": "2.0",
        "id": 9,
        "method": "tools/call",
        "params": {"name": "slow__noisy_hang", "arguments": {"lines": 20}, "_meta": {"progressToken": "p9"}},
    }
    threading.Thread(
        target=_post_stream, args=(server.mcp_url, globex.key, session, call, seen, done), daemon=True
    ).start()
    with anyio.fail_after(30):
        while sum(1 for line in seen if line.startswith("data:") and "notifications/progress" in line) < 20:
            await anyio.sleep(0.1)
    refused_call = await sync_to_async(rawmcp.post)(
        server.mcp_url,
        {"jsonrpc": "2.0", "id": 10, "method": "ping"},
        key=globex.key,
        session=session,
        version=V,
    )
    _assert_quota_refusal(refused_call, "history_bytes_per_session")
    assert await sync_to_async(_audited_quota)(globex.org, "history_bytes_per_session")
    _log_has_no_traceback(server)


async def test_version_counters_never_alias_after_redis_loses_its_data(private_redis, settings):
    from omni.gateway import state

    settings.REDIS_URL = private_redis.url
    (before,) = await state.read_versions(["test:alias"])
    await sync_to_async(state.bump_versions)(["test:alias"])
    (cached,) = await state.read_versions(["test:alias"])
    assert cached != before
    private_redis.cli("FLUSHALL")  # what a restart without persistence looks like
    seen = set()
    for _ in range(3):
        (now,) = await state.read_versions(["test:alias"])
        seen.add(now)
        await sync_to_async(state.bump_versions)(["test:alias"])
    assert cached not in seen and before not in seen


def test_redis_client_timeouts_fit_blocking_reads(settings):
    """The asyncio default socket timeout (5 s) would cut every 10 s XREAD BLOCK."""
    from redis.retry import Retry

    from omni.gateway import redis_clients
    from omni.gateway.streams import BLOCK_MS

    kwargs = redis_clients._kwargs("blocking", BLOCK_MS / 1000, Retry)
    assert kwargs["socket_timeout"] > BLOCK_MS / 1000
    assert settings.MCP_REDIS_SOCKET_TIMEOUT < kwargs["socket_timeout"]


async def test_ended_streams_give_their_redis_connections_back(private_redis, live_server_factory, acme):
    """Each ended stream returns its blocking-read connection: before the fix, the pumps' varying
    block times made a Redis client (and a connection) per read, about 1.5 per legacy session."""
    server = live_server_factory.start(name="web-conns", env={"REDIS_URL": private_redis.url})

    def connections() -> int:
        return sum(1 for line in private_redis.cli("CLIENT", "LIST").splitlines() if "cmd=client" not in line)

    with anyio.fail_after(120):  # a hang fails this test, not the whole run
        async with connect_sse(server.sse_url, acme.key) as client:  # warm: pools and catalogue
            await client.call_tool("utilities__calculate", {"expression": "1+1"})
    await anyio.sleep(1)
    before = connections()
    for n in range(20):
        with anyio.fail_after(60):
            async with connect_sse(server.sse_url, acme.key) as client:
                answer = await client.call_tool("utilities__calculate", {"expression": f"{n}+1"})
                assert not answer.is_error
    await anyio.sleep(1)
    # Pools may grow by a connection or two under concurrency; never by one per session.
    assert connections() <= before + 4, (before, private_redis.cli("CLIENT", "LIST"))
    _log_has_no_traceback(server)
