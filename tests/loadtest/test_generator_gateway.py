"""run_shard against the real gateway (a live daphne process) in every mode, against a built-in
server served in-process on a loopback port, and against a standalone server that verifies the
gateway's signatures."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from omni.loadtest.generator import run_shard
from omni.loadtest.generator.protocol import modern_headers, with_meta
from tests.gateway import rawmcp
from tests.gateway.world import Tenant, make_tenant
from tests.live import standalone_mcp_server
from tests.loadtest.generator_support import assert_consistent, spec, warm

pytestmark = pytest.mark.live

GENEROUS = {"rate_limits": {"mcp_per_key_per_minute": 100000, "mcp_per_org_per_minute": 100000}}


@pytest.fixture
def tenant(committed, live_server) -> Tenant:
    tenant = make_tenant("load")
    tenant.org.settings = {**(tenant.org.settings or {}), **GENEROUS}
    tenant.org.save()
    # The first tool call of a fresh server process starts its tool worker pool (seconds on a busy
    # machine); one call before the load keeps that out of the measured window.
    params = with_meta({"name": "utilities__calculate", "arguments": {"expression": "1+1"}}, None, True)
    warm = rawmcp.post(
        live_server.mcp_url,
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params},
        key=tenant.key,
        version="2026-07-28",
        headers=modern_headers("tools/call", params),
        timeout=60,
    )
    assert warm.status_code == 200, warm.text
    return tenant


@pytest.fixture(autouse=True)
async def _close_orm_thread_connections():
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


def operations(slug: str) -> list[dict]:
    return [
        {
            "label": "calc",
            "kind": "tools/call",
            "weight": 3,
            "name": "utilities__calculate",
            "arguments": {"expression": "{{ random.int(1, 99) }} * {{ random.int(1, 99) }}"},
        },
        {"label": "list", "kind": "tools/list", "weight": 1},
        {
            "label": "prompt",
            "kind": "prompts/get",
            "weight": 1,
            "name": "greet",
            "arguments": {"who": "{{ faker.name }}"},
        },
        {
            "label": "read",
            "kind": "resources/read",
            "weight": 1,
            "uri": f"memo://{slug.split('-')[0]}/readme",
        },
        {
            "label": "flow",
            "kind": "scenario",
            "weight": 1,
            "steps": [
                {
                    "name": "uuid",
                    "operation": "tools/call",
                    "params": {"name": "utilities__generate_uuid", "arguments": {}},
                    "save": {"text": "$.content[0].text"},
                },
                {
                    "name": "hash",
                    "operation": "tools/call",
                    "params": {"name": "utilities__hash_text", "arguments": {"text": "{{ text }}"}},
                },
            ],
        },
    ]


@pytest.mark.parametrize("mode", ["2026-07-28", "handshake", "sse"])
async def test_every_mode_through_the_gateway(live_server, tenant, mode):
    url = live_server.sse_url if mode == "sse" else live_server.mcp_url
    ticks = []
    result = await run_shard(
        spec(
            url,
            operations(tenant.org.slug),
            mode=mode,
            headers=tenant.headers,
            org=tenant.org.slug,
            arrival={"model": "closed", "users": 5, "think_ms": 20},
            warmup_s=1,
            duration_s=3,
            timeout_s=15,
        ),
        on_tick=ticks.append,
    )
    ops = result["operations"]
    for label in ("calc", "list", "prompt", "read", "flow", "flow/uuid", "flow/hash"):
        assert ops[label]["count"] > 0, (label, ops[label])
        assert ops[label]["errors"] == {}, (label, ops[label]["errors"])
    assert_consistent(result)
    assert len(ticks) == 3


async def test_open_model_through_the_gateway(live_server, tenant):
    result = await run_shard(
        spec(
            live_server.mcp_url,
            operations(tenant.org.slug)[:2],
            headers=tenant.headers,
            org=tenant.org.slug,
            arrival={"model": "open", "rate": 5, "max_in_flight": 50},
            warmup_s=1,
            duration_s=3,
            timeout_s=15,
        )
    )
    total = result["operations"]["calc"]["count"] + result["operations"]["list"]["count"]
    # 15 started in the window, give or take the ones in flight at its ends
    assert 5 <= total <= 20, result
    assert result["operations"]["calc"]["errors"] == {} and result["operations"]["list"]["errors"] == {}
    assert_consistent(result)


async def test_a_wrong_key_and_the_rate_limit_are_error_kinds(live_server, tenant):
    for mode, url in (
        ("2026-07-28", live_server.mcp_url),
        ("handshake", live_server.mcp_url),
        ("sse", live_server.sse_url),
    ):
        bad = await run_shard(
            spec(
                url,
                [{"label": "list", "kind": "tools/list", "weight": 1}],
                mode=mode,
                headers={"Authorization": "Bearer omni_nope"},
                arrival={"model": "closed", "users": 1, "think_ms": 50},
                duration_s=1,
            )
        )
        # a session that cannot open is counted against the operation it was opened for
        assert bad["operations"]["list"]["count"] > 0, mode
        assert set(bad["operations"]["list"]["errors"]) == {"http_401"}, mode

    def tighten() -> None:
        tenant.org.settings = {"rate_limits": {"mcp_per_key_per_minute": 5}}
        tenant.org.save()

    await sync_to_async(tighten)()
    limited = await run_shard(
        spec(
            live_server.mcp_url,
            [{"label": "list", "kind": "tools/list", "weight": 1}],
            headers=tenant.headers,
            org=tenant.org.slug,
            arrival={"model": "closed", "users": 1, "think_ms": 50},
            duration_s=1.5,
        )
    )
    errors = limited["operations"]["list"]["errors"]
    assert errors.get("http_429", 0) > 0
    assert limited["operations"]["list"]["count"] - errors["http_429"] <= 5


@pytest.mark.parametrize("mode", ["2026-07-28", "handshake", "sse"])
async def test_a_builtin_server_served_in_process(committed, mode):
    op = {
        "label": "calc",
        "kind": "tools/call",
        "weight": 1,
        "name": "calculate",
        "arguments": {"expression": "6*7"},
    }
    endpoint = {"org": "direct", "url": "", "headers": {}, "weight": 1, "inprocess_server": "utilities"}
    shard = spec(
        "", [op], mode=mode, endpoints=[endpoint], arrival={"model": "closed", "users": 2}, duration_s=2
    )
    await warm(shard)
    result = await run_shard(shard)
    assert result["operations"]["calc"]["count"] > 0
    assert result["operations"]["calc"]["errors"] == {}
    assert_consistent(result)


async def test_a_standalone_server_needs_the_gateways_signature(live_server, committed):
    op = {
        "label": "calc",
        "kind": "tools/call",
        "weight": 1,
        "name": "calculate",
        "arguments": {"expression": "1+1"},
    }
    with standalone_mcp_server("utilities", env=live_server.env) as base:
        endpoint = {"org": "direct-org", "url": f"{base}/mcp", "headers": {}, "weight": 1}
        await warm(spec("", [op], endpoints=[{**endpoint, "sign": True}]))
        unsigned = await run_shard(
            spec(
                "",
                [op],
                endpoints=[endpoint],
                arrival={"model": "closed", "users": 1, "think_ms": 50},
                duration_s=1,
            )
        )
        signed = await run_shard(
            spec(
                "",
                [op],
                endpoints=[{**endpoint, "sign": True}],
                arrival={"model": "closed", "users": 2},
                duration_s=1.5,
            )
        )
        handshake = await run_shard(
            spec(
                "",
                [op],
                mode="handshake",
                endpoints=[{**endpoint, "sign": True}],
                arrival={"model": "closed", "users": 1},
                duration_s=1,
            )
        )
    assert set(unsigned["operations"]["calc"]["errors"]) == {"http_401"}
    assert signed["operations"]["calc"]["count"] > 0 and signed["operations"]["calc"]["errors"] == {}
    assert handshake["operations"]["calc"]["count"] > 0 and handshake["operations"]["calc"]["errors"] == {}
