"""Compute isolation through a real gateway process (issue 7, parts 1 and 2).

* the catastrophic pattern ``^(a+)+$`` against ``"a" * 28 + "!"`` in ``json_tool`` and in the
  inputSchema of a server an organization registered (tests/servers/evil_server.py): answered at
  once by RE2, never backtracked on Python's ``re``;
* the schema amplification bomb: a clear error naming the budget;
* isolation by order: while one organization's adversarial call is in flight (a schema evaluation
  let loose by a gateway whose schema budget is switched off, so only the worker's CPU limit stops
  it; a large knowledge search), another organization's ``GET /healthz`` and ``tools/list`` complete,
  and the adversarial call then ends (with a clear error naming the limit, or its answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from asgiref.sync import sync_to_async
from mcp.shared.exceptions import MCPError

from mcp_servers.models import Note
from omni.registry.models import ServerConnection
from tests.gateway.conftest import connect
from tests.gateway.world import Tenant, make_tenant
from tests.live import free_port

pytestmark = pytest.mark.live

EVIL = str(Path(__file__).with_name("evil_server.py"))
CATASTROPHIC = {"type": "string", "pattern": "^(a+)+$"}
EVIL_TEXT = "a" * 28 + "!"


def bomb(levels: int, keyword: str = "anyOf") -> dict:
    defs: dict = {"d0": {"type": "integer"}}
    for level in range(1, levels + 1):
        below = {"$ref": f"#/$defs/d{level - 1}"}
        defs[f"d{level}"] = {keyword: [below, below]}
    return {"$defs": defs, "$ref": f"#/$defs/d{levels}"}


@contextlib.asynccontextmanager
async def evil_server(org) -> AsyncIterator[None]:
    """evil_server.py on a free port of 127.0.0.1, registered as the organization's server 'evil'."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 (our own test server)
        [sys.executable, EVIL, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(200):  # bounded wait for the listener
            try:
                httpx2.get(f"http://127.0.0.1:{port}/", timeout=0.5)
                break
            except httpx2.HTTPError:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("evil_server did not start")
        await sync_to_async(ServerConnection.objects.create)(
            organization=org, name="evil", transport="streamable_http", url=f"http://127.0.0.1:{port}/mcp"
        )
        yield
    finally:
        process.kill()
        process.wait(timeout=10)


def patient_tenant(prefix: str, servers: tuple[str, ...]) -> Tenant:
    """A tenant whose built-in servers may take 300 s: the tool worker pool of a fresh server
    process starts in seconds on a busy machine, and the CPU limit is what must end a runaway call."""
    tenant = make_tenant(prefix, servers=servers)
    ServerConnection.objects.filter(organization=tenant.org).update(timeout_seconds=300)
    return tenant


@pytest.fixture
def attacker(committed) -> Tenant:
    return patient_tenant("attacker", ("utilities", "knowledge"))


@pytest.fixture
def bystander(committed) -> Tenant:
    return patient_tenant("bystander", ("utilities",))


def _text(result) -> str:
    return result.content[0].text


async def test_the_catastrophic_pattern_in_json_tool_is_answered_by_re2(live_server, attacker):
    async with connect(live_server.mcp_url, attacker.key) as client:
        result = await client.call_tool(
            "utilities__json_tool", {"json_text": f'"{EVIL_TEXT}"', "json_schema": CATASTROPHIC}
        )
        assert not result.is_error, _text(result)
        assert result.structured_content["schema_valid"] is False
        assert (
            result.structured_content["schema_errors"][0]["message"]
            == f"{EVIL_TEXT!r} does not match '^(a+)+$'"
        )
        fine = await client.call_tool(
            "utilities__json_tool", {"json_text": f'"{"a" * 10_000}"', "json_schema": CATASTROPHIC}
        )
        assert fine.structured_content["schema_valid"] is True
        lookahead = await client.call_tool(
            "utilities__json_tool", {"json_text": '"a"', "json_schema": {"pattern": "(?=a)a"}}
        )
        assert lookahead.is_error and "RE2" in _text(lookahead)


async def test_the_schema_bomb_in_json_tool_stops_with_a_clear_error(live_server, attacker):
    async with connect(live_server.mcp_url, attacker.key) as client:
        result = await client.call_tool("utilities__json_tool", {"json_text": '"x"', "json_schema": bomb(40)})
        assert result.is_error
        assert "schema evaluation stopped" in _text(result) and "SCHEMA_MAX_" in _text(result)
        # a small one of the same shape is still evaluated
        small = await client.call_tool("utilities__json_tool", {"json_text": "3", "json_schema": bomb(3)})
        assert small.structured_content["schema_valid"] is True


async def test_hostile_input_schemas_of_a_registered_server(live_server, attacker):
    async with evil_server(attacker.org):
        async with connect(live_server.mcp_url, attacker.key) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert {"evil__check", "evil__lookahead", "evil__bomb"} <= names
            # The gateway checks the catastrophic pattern on RE2 before forwarding anything.
            refused = await client.call_tool("evil__check", {"word": EVIL_TEXT})
            assert refused.is_error
            assert _text(refused) == (
                f"Invalid arguments for tool evil__check: word: {EVIL_TEXT!r} does not match '^(a+)+$'"
            )
            assert (
                _text(await client.call_tool("evil__check", {"word": "a" * 5000})) == f"checked {'a' * 5000}"
            )
            # A pattern RE2 cannot compile is refused, not run on another engine.
            unsupported = await client.call_tool("evil__lookahead", {"word": "a"})
            assert unsupported.is_error and "cannot be checked safely" in _text(unsupported)
            assert "RE2" in _text(unsupported)
            # The amplification bomb as an inputSchema: a clear error naming the budget.
            exploded = await client.call_tool("evil__bomb", {"value": "not a number"})
            assert exploded.is_error and "SCHEMA_MAX_" in _text(exploded)
            # The server's outputSchema is checked on RE2 too: a matching result passes unchanged,
            # the catastrophic one is answered at once (an error, not seconds of backtracking).
            fine = await client.call_tool("evil__shout", {"word": "a" * 5000})
            assert not fine.is_error and fine.structured_content == {"word": "a" * 5000}
            # (40 a's: hours of backtracking on Python's re; RE2 answers at once.)
            with pytest.raises(MCPError) as caught:
                await client.call_tool("evil__shout", {"word": "a" * 40 + "!"})
            assert "server 'evil'" in caught.value.error.message
            assert "does not match the tool's outputSchema" in caught.value.error.message


async def _healthz_and_tools_list(server, tenant: Tenant) -> set[str]:
    async with httpx2.AsyncClient(timeout=60) as http:
        health = await http.get(f"{server.url}/healthz")
        assert health.status_code == 200
    async with connect(server.mcp_url, tenant.key) as client:
        return {tool.name for tool in (await client.list_tools()).tools}


async def test_isolation_by_order_while_a_cpu_bound_call_runs(live_server_factory, attacker, bystander):
    # A gateway whose schema budget is switched off: only the worker's CPU limit stops the bomb.
    server = live_server_factory.start(
        name="isolation",
        env={
            "SCHEMA_MAX_STEPS": "1000000000",
            "SCHEMA_MAX_REFS": "1000000000",
            "SCHEMA_MAX_ERRORS": "1000000000",
            "TOOL_WORKER_CPU_SECONDS": "2",
            "TOOL_WORKER_TIMEOUT_SECONDS": "600",
        },
    )
    try:
        async with connect(server.mcp_url, attacker.key) as client:
            # warm: catalogue built, worker pool started
            assert not (await client.call_tool("utilities__calculate", {"expression": "1+1"})).is_error
            adversarial = asyncio.ensure_future(
                client.call_tool("utilities__json_tool", {"json_text": "1", "json_schema": bomb(60, "allOf")})
            )
            await asyncio.sleep(0.5)  # let the call reach the server (not an assertion on time)
            assert not adversarial.done()
            names = await _healthz_and_tools_list(server, bystander)
            assert "utilities__calculate" in names
            assert not adversarial.done(), "the adversarial call ended before the other tenant was served"
            result = await asyncio.wait_for(adversarial, timeout=300)
        assert result.is_error
        assert "TOOL_WORKER_CPU_SECONDS" in _text(result) and "2 s of CPU time" in _text(result)
    finally:
        server.stop()


async def test_isolation_by_order_while_a_large_search_runs(live_server, attacker, bystander):
    org = attacker.org.slug
    filler = " ".join(f"word{i % 997} lorem ipsum dolor" for i in range(800))  # ~20 KB
    notes = [
        Note(org_slug=org, title=f"note {i}", body=f"{filler} needle " * (1 + i % 3), tags=[])
        for i in range(300)
    ]
    await sync_to_async(Note.objects.bulk_create)(notes, batch_size=100)
    async with connect(live_server.mcp_url, attacker.key) as client:
        search = asyncio.ensure_future(client.call_tool("knowledge__search_notes", {"query": "needle word7"}))
        await asyncio.sleep(0.5)
        assert not search.done()
        names = await _healthz_and_tools_list(live_server, bystander)
        assert "utilities__json_tool" in names
        assert not search.done(), "the search ended before the other tenant was served"
        result = await asyncio.wait_for(search, timeout=300)
    assert not result.is_error, _text(result)
    assert result.structured_content["total"] == 300
    best = result.structured_content["matches"][0]
    assert best["matched_terms"] == ["needle", "word7"] and int(best["title"].split()[1]) % 3 == 2
