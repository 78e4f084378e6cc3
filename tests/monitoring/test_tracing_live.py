"""Tracing end to end with the console exporter: a gateway process (daphne) and a standalone
built-in server (``python -m mcp_servers.utilities``) both run with ``OTEL_TRACES_EXPORTER=console``;
a tools/call that arrives with a W3C ``traceparent`` yields, under that one trace id, the gateway's
HTTP span, authentication, the SDK's MCP server span, the forward, SQL, the in-process server's
span (in-process downstream) and the standalone server's span (HTTP downstream, context from the
request's ``params._meta``)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from omni.gateway import tracing
from tests.gateway.world import make_tenant
from tests.live import ROOT, free_port

pytestmark = pytest.mark.live

OTEL = {"OTEL_TRACES_EXPORTER": "console", "OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_SERVICE_NAME": "omni-test"}


def spans_in(text: str) -> list[dict]:
    """Every JSON object the console exporter printed (other output lines are skipped)."""
    decoder = json.JSONDecoder()
    found, index = [], 0
    while (start := text.find("{\n", index)) != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            index = start + 1
            continue
        if isinstance(value, dict) and "context" in value and "name" in value:
            found.append(value)
        index = end
    return found


def wait_for_spans(read, trace_id: str, want: set[str], tries: int = 50) -> list[dict]:
    spans: list[dict] = []
    for _ in range(tries):
        spans = [s for s in spans_in(read()) if s["context"]["trace_id"] == f"0x{trace_id}"]
        if want <= {s["name"] for s in spans}:
            return spans
        time.sleep(0.2)
    names = sorted({s["name"] for s in spans})
    raise AssertionError(f"spans of trace {trace_id}: {names}; missing {sorted(want - set(names))}")


@pytest.fixture(scope="module")
def traced_gateway(live_server_factory):
    return live_server_factory.start(name="traced", env=OTEL)


@pytest.fixture(scope="module")
def traced_utilities(live_server_factory):
    """The standalone utilities server with tracing on, its output kept in a file we read."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="mcp-utilities-traced-", suffix=".log", delete=False)  # noqa: SIM115
    env = {**live_server_factory.env, **OTEL, "OTEL_SERVICE_NAME": "utilities-test"}
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "mcp_servers.utilities", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        for _ in range(300):
            assert process.poll() is None, Path(log.name).read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp", Path(log.name)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        os.unlink(log.name)


@pytest.fixture(autouse=True)
async def _close_orm_thread_connections():
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


async def test_one_trace_from_the_client_to_the_downstream_servers(
    traced_gateway, traced_utilities, committed
):
    from asgiref.sync import sync_to_async

    from omni.registry.models import ServerConnection

    url, utilities_log = traced_utilities

    def world():
        tenant = make_tenant("traced", servers=("utilities",))
        ServerConnection.objects.create(
            organization=tenant.org, name="remote", transport="streamable_http", url=url, enabled=True,
            timeout_seconds=10,
        )  # fmt: skip
        return tenant

    tenant = await sync_to_async(world)()
    trace_id = secrets.token_hex(16)
    parent = secrets.token_hex(8)
    headers = {"traceparent": f"00-{trace_id}-{parent}-01"}
    headers["Authorization"] = f"Bearer {tenant.key}"
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(traced_gateway.mcp_url, http_client=http)) as client,
    ):
        assert not (await client.call_tool("utilities__calculate", {"expression": "6*7"})).is_error
        assert not (await client.call_tool("remote__calculate", {"expression": "6*7"})).is_error

    want = {
        "POST /mcp",
        "gateway.authenticate",
        "tools/call utilities__calculate",  # the gateway's MCP server span (mcp SDK)
        "forward tools/call calculate",
        "MCP send tools/call calculate",  # the SDK client span that injects _meta
        "tools/call calculate",  # the in-process built-in server's span
        "SELECT",
    }
    spans = wait_for_spans(traced_gateway.logs, trace_id, want)
    by_name = {s["name"]: s for s in spans}
    # the gateway's HTTP span continues the caller's context
    assert any(s["name"] == "POST /mcp" and s["parent_id"] == f"0x{parent}" for s in spans)
    forward = [s for s in spans if s["name"] == "forward tools/call calculate"]
    assert {s["attributes"]["omni.server"] for s in forward} == {"utilities", "remote"}
    gateway_call = by_name["tools/call utilities__calculate"]["attributes"]
    assert gateway_call["gen_ai.tool.name"] == "utilities__calculate"
    databases = ("postgresql", "sqlite")
    sql = [s["attributes"] for s in spans if s["attributes"].get("db.system.name") in databases]
    assert any("%s" in a["db.query.text"] for a in sql)  # placeholders, never the parameters
    if os.environ.get("REDIS_URL"):
        redis_spans = [s for s in spans if s["attributes"].get("db.system") == "redis"]
        assert redis_spans, sorted({s["name"] for s in spans})

    remote = wait_for_spans(utilities_log.read_text, trace_id, {"tools/call calculate"})
    server_span = next(s for s in remote if s["name"] == "tools/call calculate")
    assert server_span["resource"]["attributes"]["service.name"] == "utilities-test"
    # its parent is a span of the gateway process (the SDK client span of the remote forward)
    gateway_ids = {s["context"]["span_id"] for s in spans}
    assert server_span["parent_id"] in gateway_ids


async def test_trace_headers_copied_from_meta():
    request = httpx2.Request(
        "POST",
        "http://127.0.0.1:1/mcp",
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "x", "_meta": {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}},
        },
    )
    await tracing.trace_headers(request)
    assert "traceparent" not in request.headers  # tracing off: nothing touched
    tracing.ENABLED = True
    try:
        await tracing.trace_headers(request)
    finally:
        tracing.ENABLED = False
    assert request.headers["traceparent"] == "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
