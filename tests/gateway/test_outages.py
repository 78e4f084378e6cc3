"""Redis and PostgreSQL outages under a small load (issue 14 part 3): every answer on an MCP path
is JSON-RPC (an HTTP status and a JSON-RPC body, never an HTML page or silence), a request in
flight when Redis dies ends, and the process serves normally once the service is back. Private
service instances (tests/faults.py); the machine's shared services are never touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest

from omni.registry.models import ServerConnection
from tests.gateway import rawmcp
from tests.live import ROOT

pytestmark = pytest.mark.live

V = "2025-11-25"
MODERN = "2026-07-28"
SLOW = str(Path(__file__).with_name("slow_server.py"))


def _is_jsonrpc(response: httpx2.Response) -> bool:
    """A JSON-RPC answer: a JSON body, or an SSE stream carrying JSON-RPC messages."""
    try:
        messages = rawmcp.messages_of(response)
    except ValueError:
        return False
    return bool(messages) and all(m.get("jsonrpc") == "2.0" for m in messages)


class Load:
    """A small, bounded load in a thread: sessionless calls and calls in a session, recording
    every answer (status, JSON-RPC or not)."""

    def __init__(self, url: str, key: str, session: str) -> None:
        self.url, self.key, self.session = url, key, session
        self.answers: list[tuple[int, bool, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _one(self, **kwargs) -> None:
        try:
            response = rawmcp.post(self.url, timeout=30, key=self.key, **kwargs)
        except httpx2.HTTPError as exc:  # silence: no answer at all
            self.answers.append((0, False, repr(exc)))
            return
        self.answers.append((response.status_code, _is_jsonrpc(response), response.text[:300]))

    def _run(self) -> None:
        for n in range(400):  # bounded
            if self._stop.is_set():
                return
            self._one(
                payload={"jsonrpc": "2.0", "id": n, "method": "tools/list"}, session=self.session, version=V
            )
            self._one(
                payload={
                    "jsonrpc": "2.0",
                    "id": n,
                    "method": "tools/call",
                    "params": {"name": "utilities__calculate", "arguments": {"expression": "1 + 1"}},
                },
                version=MODERN,
            )
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)
        assert not self._thread.is_alive()


def _stream_post(url: str, key: str, session: str, payload: dict, seen: list, done: threading.Event) -> None:
    headers = {
        "Authorization": f"Bearer {key}",
        "Mcp-Session-Id": session,
        "Accept": rawmcp.ACCEPT,
        "Content-Type": "application/json",
        "MCP-Protocol-Version": V,
    }
    try:
        with httpx2.stream(
            "POST", url, content=json.dumps(payload), headers=headers, timeout=httpx2.Timeout(5, read=90)
        ) as response:
            seen.extend(response.iter_lines())
    except httpx2.HTTPError as exc:
        seen.append(f"error: {exc!r}")
    finally:
        done.set()


def test_redis_outage_answers_jsonrpc_and_heals(private_redis, live_server_factory, acme):
    server = live_server_factory.start(name="web-redis-outage", env={"REDIS_URL": private_redis.url})
    ServerConnection.objects.create(
        organization=acme.org,
        name="slow",
        transport="stdio",
        command=sys.executable,
        args=[SLOW],
        timeout_seconds=60,
    )
    session, _ = rawmcp.initialize(server.mcp_url, acme.key, V)
    rawmcp.wait_for_tool(server.mcp_url, acme.key, session, "slow__hang", version=V)

    # A call in flight when Redis dies.
    seen: list[str] = []
    done = threading.Event()
    call = {
        "jsonrpc": "2.0",
        "id": 77,
        "method": "tools/call",
        "params": {"name": "slow__hang", "arguments": {"seconds": 4}},
    }
    threading.Thread(
        target=_stream_post, args=(server.mcp_url, acme.key, session, call, seen, done), daemon=True
    ).start()
    deadline = time.monotonic() + 30
    while not any(line.startswith("id:") for line in seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not done.is_set()

    load = Load(server.mcp_url, acme.key, session)
    time.sleep(1)
    private_redis.kill()
    outage_start = len(load.answers)
    time.sleep(3)
    # The in-flight call ends (its answer goes out unstored), it does not hang on pings.
    assert done.wait(60), "the request in flight when Redis died never ended"
    answers = [json.loads(line[5:]) for line in seen if line.startswith("data:") and line[5:].strip()]
    assert [a for a in answers if a.get("id") == 77], seen
    sse = httpx2.get(server.sse_url, headers={"Authorization": f"Bearer {acme.key}"}, timeout=30)
    assert sse.status_code == 503 and sse.json()["error"]["code"] == -32603
    private_redis.start()  # back, empty (no persistence)
    time.sleep(2)
    load.stop()

    during = load.answers[outage_start:]
    assert during, "no request was made during the outage"
    assert all(is_json for _, is_json, _ in load.answers), [a for a in load.answers if not a[1]][:5]
    refused = [text for status, _, text in during if status == 503]
    assert refused, "no request saw the outage"
    assert all('"code": -32603' in text and "request id" in text for text in refused)

    # Healed: the old session is gone with Redis' data (a JSON 404), a new one works at once.
    gone = rawmcp.post(
        server.mcp_url,
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        key=acme.key,
        session=session,
        version=V,
    )
    assert gone.status_code == 404 and gone.json()["jsonrpc"] == "2.0"
    fresh, _ = rawmcp.initialize(server.mcp_url, acme.key, V)
    for n in range(5):
        answer = rawmcp.rpc(
            server.mcp_url,
            acme.key,
            fresh,
            "tools/call",
            {"name": "utilities__calculate", "arguments": {"expression": f"{n} * 2"}},
            version=V,
        )
        assert answer["result"]["isError"] is False


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(  # noqa: S603
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_postgres_outage_answers_jsonrpc_and_heals(private_postgres, live_server_factory):
    env = {**live_server_factory.env, "DATABASE_URL": private_postgres.url}
    _manage(env, "manage.py", "migrate", "--noinput", "-v", "0")
    key = (
        _manage(
            env,
            "-c",
            "import django; django.setup(); from tests.gateway.world import make_tenant; "
            "print(make_tenant('pgout', servers=('utilities',)).key)",
        )
        .strip()
        .splitlines()[-1]
    )
    server = live_server_factory.start(name="web-pg-outage", env={"DATABASE_URL": private_postgres.url})
    session, _ = rawmcp.initialize(server.mcp_url, key, V)
    assert rawmcp.rpc(server.mcp_url, key, session, "tools/list", version=V)["result"]["tools"]

    load = Load(server.mcp_url, key, session)
    time.sleep(1)
    private_postgres.stop()
    outage_start = len(load.answers)
    time.sleep(3)
    # A key the process has not seen: authentication itself needs the database.
    unknown = rawmcp.post(
        server.mcp_url,
        {"jsonrpc": "2.0", "id": 3, "method": "ping"},
        key="omni_zzzzzzzz_" + "A" * 43,
        version=MODERN,
    )
    assert unknown.status_code == 503, unknown.text
    assert unknown.json()["error"]["code"] == -32603
    private_postgres.start()
    time.sleep(1)
    load.stop()

    during = load.answers[outage_start:]
    assert during
    assert all(is_json for _, is_json, _ in load.answers), [a for a in load.answers if not a[1]][:5]

    # Healed: every request after the restart is served (no broken pooled connection left).
    for n in range(5):
        answer = rawmcp.rpc(
            server.mcp_url,
            key,
            session,
            "tools/call",
            {"name": "utilities__calculate", "arguments": {"expression": f"{n} + 40"}},
            version=V,
        )
        assert answer["result"]["isError"] is False, answer
    fresh = rawmcp.post(
        server.mcp_url,
        {"jsonrpc": "2.0", "id": 4, "method": "ping"},
        key="omni_yyyyyyyy_" + "B" * 43,
        version=MODERN,
    )
    assert fresh.status_code == 401 and fresh.json()["jsonrpc"] == "2.0"
    status, _ = server.get_json("/healthz")
    assert status == 200
    assert os.path.exists(server.log_path)
