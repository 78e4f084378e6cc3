"""Helpers of the live data-subject tests: a database dump to search, MCP calls from an address
of their own, the Redis keys of an organization, a Celery worker process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
from django.db import connection

from tests.gateway.rawmcp import ACCEPT, messages_of
from tests.live import ROOT, database_url


def pg_dump_text() -> str:
    """A plain-text ``pg_dump`` (data and schema) of the test database, as the server wrote it."""
    url = database_url(connection.settings_dict)
    result = subprocess.run(
        ["pg_dump", "--no-owner", "--no-privileges", "--dbname", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return result.stdout.decode("utf-8", "replace")


def mcp_client(local_address: str) -> httpx2.Client:
    """An HTTP client whose connections come from ``local_address`` (any 127.x.y.z on loopback):
    the gateway sees, and the audit log records, that address as the client's."""
    return httpx2.Client(transport=httpx2.HTTPTransport(local_address=local_address), timeout=30)


def mcp_post(client: httpx2.Client, url: str, key: str, payload: dict, **headers: str) -> httpx2.Response:
    h = {"Accept": ACCEPT, "Content-Type": "application/json", "Authorization": f"Bearer {key}", **headers}
    return client.post(url, content=json.dumps(payload).encode(), headers=h)


def open_session(client: httpx2.Client, url: str, key: str) -> tuple[str, str]:
    """initialize + initialized; returns (session id, protocol version)."""
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "dsr", "version": "1"},
        },
    }
    response = mcp_post(client, url, key, init)
    assert response.status_code == 200, response.text
    session = response.headers["mcp-session-id"]
    version = messages_of(response)[0]["result"]["protocolVersion"]
    ack = mcp_post(
        client, url, key, {"jsonrpc": "2.0", "method": "notifications/initialized"},
        **{"Mcp-Session-Id": session, "MCP-Protocol-Version": version},
    )  # fmt: skip
    assert ack.status_code == 202, ack.text
    return session, version


def call_tool(client: httpx2.Client, url: str, key: str, session: str, version: str) -> dict[str, Any]:
    payload = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "utilities__calculate", "arguments": {"expression": "6*7"}},
    }
    response = mcp_post(
        client, url, key, payload, **{"Mcp-Session-Id": session, "MCP-Protocol-Version": version}
    )
    assert response.status_code == 200, response.text
    (message,) = [m for m in messages_of(response) if m.get("id") == 2]
    return message


def wait_for(predicate, timeout: float = 30.0, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def redis_keys_matching(url: str, patterns: list[str]) -> dict[str, int]:
    """Every key matching one of ``patterns`` with its TTL (-1: none)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        found = {}
        for pattern in patterns:
            for key in client.scan_iter(match=pattern, count=1000):
                found[key.decode()] = client.ttl(key)
        return found
    finally:
        client.close()


class CeleryWorker:
    """``celery -A omni worker`` (solo pool) against the test database and the tests' Redis, for the
    production shape: the web process queues, this process builds."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = dict(env)
        self.log = tempfile.NamedTemporaryFile(prefix="celery-", suffix=".log", delete=False)  # noqa: SIM115
        self.process: subprocess.Popen | None = None

    def start(self) -> CeleryWorker:
        command = [
            sys.executable, "-m", "celery", "-A", "omni", "worker", "--pool", "solo", "--concurrency", "1",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        return self

    def logs(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.log.close()
        os.unlink(self.log.name)


def in_thread(fn):
    """Run ORM code in a worker thread (Playwright's sync API runs an event loop in the test's
    thread, where Django refuses ORM calls) and close that thread's connection afterwards."""
    import concurrent.futures

    def run():
        from django.db import connections

        try:
            return fn()
        finally:
            connections.close_all()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=120)
