"""run_shard against the trivial JSON-RPC server in a real uvicorn process: both arrival models,
the wire format, determinism, scenarios with save, cancellation and every error kind."""

from __future__ import annotations

import pytest

from omni.loadtest.generator import run_shard
from tests.live import free_port
from tests.loadtest.generator_support import assert_consistent, server_log, spec, trivial_server

ECHO = {
    "label": "echo",
    "kind": "tools/call",
    "weight": 3,
    "name": "echo",
    "arguments": {
        "word": "{{ faker.word }}",
        "n": "{{ random.int(1, 1000000) }}",
        "who": "u{{ vu }}-{{ seq }}",
    },
}
LIST = {"label": "list", "kind": "tools/list", "weight": 1}


@pytest.fixture(scope="module")
def trivial():
    with trivial_server() as base:
        yield base


async def test_closed_model_single_exchange(trivial):
    server_log(trivial, clear=True)
    ticks = []
    result = await run_shard(
        spec(
            f"{trivial}/mcp",
            [ECHO, LIST],
            arrival={"model": "closed", "users": 3, "think_ms": 5},
            warmup_s=0.5,
        ),
        on_tick=ticks.append,
    )
    assert not result["cancelled"] and result["duration_s"] == pytest.approx(2.0, abs=0.3)
    ops = result["operations"]
    assert ops["echo"]["count"] > 0 and ops["list"]["count"] > 0
    assert ops["echo"]["errors"] == {} and ops["list"]["errors"] == {}
    assert_consistent(result)
    assert [t["t"] for t in ticks] == [0, 1]
    assert sum(t["count"] for t in ticks) == sum(s["count"] for s in result["timeline"])
    assert all(t["p50"] <= t["p95"] <= t["p99"] for t in ticks)
    # warm-up requests were sent but not measured
    bodies = server_log(trivial)["bodies"]
    assert len(bodies) > ops["echo"]["count"] + ops["list"]["count"]
    # the 2026-07-28 envelope rides in every request's params._meta
    meta = bodies[0]["params"]["_meta"]
    assert meta["io.modelcontextprotocol/protocolVersion"] == "2026-07-28"
    assert "io.modelcontextprotocol/clientCapabilities" in meta
    assert {b["params"]["arguments"]["who"].split("-")[0] for b in bodies if b["method"] == "tools/call"} == {
        "u0",
        "u1",
        "u2",
    }
    assert result["generator"]["in_flight_max"] <= 3 and result["generator"]["cpu_s"] > 0


async def _echo_arguments(trivial, seed):
    server_log(trivial, clear=True)
    await run_shard(
        spec(f"{trivial}/mcp", [ECHO, LIST], arrival={"model": "closed", "users": 1}, seed=seed, duration_s=1)
    )
    return [b["params"] for b in server_log(trivial)["bodies"] if b["method"] in ("tools/call", "tools/list")]


async def test_same_seed_same_data(trivial):
    first = await _echo_arguments(trivial, 11)
    second = await _echo_arguments(trivial, 11)
    other = await _echo_arguments(trivial, 12)
    n = min(len(first), len(second), len(other))
    assert n >= 10
    assert first[:n] == second[:n]  # same mix and same generated data, request by request
    assert first[:n] != other[:n]


async def test_open_model_rate_shapes_and_lag(trivial):
    result = await run_shard(
        spec(
            f"{trivial}/mcp",
            [LIST],
            arrival={"model": "open", "rate": 20, "shape": "ramp", "rate_to": 200, "max_in_flight": 50},
            duration_s=3,
        )
    )
    timeline = [s["count"] for s in result["timeline"]]
    assert len(timeline) == 3
    assert timeline[0] < timeline[2]  # the ramp climbs
    # about the integral of the ramp (330 requests), with room for a busy machine
    assert 200 <= result["operations"]["list"]["count"] <= 400
    assert result["generator"]["lag_ms_p99"] >= 0 and result["generator"]["dropped"] == 0
    assert_consistent(result)

    spike = await run_shard(
        spec(
            f"{trivial}/mcp",
            [LIST],
            arrival={
                "model": "open",
                "rate": 10,
                "shape": "spike",
                "spike_rate": 150,
                "spike_at_s": 1,
                "spike_for_s": 1,
            },
            duration_s=3,
        )
    )
    counts = [s["count"] for s in spike["timeline"]]
    assert counts[1] > counts[0] and counts[1] > counts[2]


async def test_max_in_flight_bounds_open_model(trivial):
    slow = {"label": "slow", "kind": "tools/call", "weight": 1, "name": "slow", "arguments": {"ms": 800}}
    result = await run_shard(
        spec(
            f"{trivial}/mcp", [slow], arrival={"model": "open", "rate": 50, "max_in_flight": 5}, duration_s=2
        )
    )
    assert result["generator"]["in_flight_max"] <= 5
    assert result["generator"]["dropped"] > 0  # not sent: the bound was reached


async def test_handshake_sessions_opened_and_deleted(trivial):
    server_log(trivial, clear=True)
    result = await run_shard(
        spec(
            f"{trivial}/mcp",
            [LIST, {**ECHO, "name": "sse"}],
            mode="handshake",
            arrival={"model": "closed", "users": 3},
        )
    )
    log = server_log(trivial)
    initializes = [b for b in log["bodies"] if b["method"] == "initialize"]
    assert len(initializes) == 3 and initializes[0]["params"]["protocolVersion"] == "2025-11-25"
    assert sum(b["method"] == "notifications/initialized" for b in log["bodies"]) == 3
    assert len(log["deleted"]) == 3 and all(log["deleted"])
    assert result["operations"]["echo"]["errors"] == {}  # an SSE-framed answer is understood
    assert result["operations"]["echo"]["count"] > 0
    assert_consistent(result)


async def test_handshake_reopens_a_lost_session(trivial):
    server_log(trivial, clear=True)
    forget = {"label": "forget", "kind": "tools/call", "weight": 1, "name": "forget", "arguments": {}}
    result = await run_shard(
        spec(
            f"{trivial}/mcp",
            [LIST, forget],
            mode="handshake",
            arrival={"model": "closed", "users": 2},
            duration_s=1.5,
        )
    )
    ops = result["operations"]
    initializes = sum(b["method"] == "initialize" for b in server_log(trivial)["bodies"])
    lost = ops["list"]["errors"].get("http_404", 0) + ops["forget"]["errors"].get("http_404", 0)
    assert ops["forget"]["count"] > 2 and lost > 0
    assert set(ops["list"]["errors"]) <= {"http_404"} and set(ops["forget"]["errors"]) <= {"http_404"}
    # every lost session was replaced by a new one (plus the first of each user, minus the last
    # losses that the window's end cut short)
    assert lost <= initializes <= lost + 2
    assert ops["list"]["count"] - ops["list"]["errors"].get("http_404", 0) > 0


async def test_scenario_steps_and_save(trivial):
    server_log(trivial, clear=True)
    scenario = {
        "label": "flow",
        "kind": "scenario",
        "weight": 1,
        "steps": [
            {
                "name": "make",
                "operation": "tools/call",
                "params": {"name": "echo", "arguments": {"x": "{{ random.int(1000, 999999) }}"}},
                "save": {"made": "$.structuredContent.x"},
            },
            {
                "operation": "tools/call",
                "params": {"name": "echo", "arguments": {"y": "{{ made }}", "t": "v={{ made }}"}},
            },
        ],
    }
    result = await run_shard(spec(f"{trivial}/mcp", [scenario], arrival={"model": "closed", "users": 1}))
    ops = result["operations"]
    assert ops["flow"]["scenario"] is True
    assert ops["flow"]["count"] > 0 and ops["flow"]["errors"] == {}
    assert (
        ops["flow/make"]["count"] >= ops["flow"]["count"] and ops["flow/1"]["count"] >= ops["flow"]["count"]
    )
    assert_consistent(result)
    calls = [b["params"]["arguments"] for b in server_log(trivial)["bodies"] if b["method"] == "tools/call"]
    pairs = list(zip(calls[0::2], calls[1::2], strict=False))
    assert pairs and all(
        second["y"] == first["x"] and second["t"] == f"v={first['x']}" for first, second in pairs
    )

    missing = {
        **scenario,
        "steps": [
            {**scenario["steps"][0], "save": {"made": "$.structuredContent.nothing"}},
            scenario["steps"][1],
        ],
    }
    result = await run_shard(
        spec(f"{trivial}/mcp", [missing], arrival={"model": "closed", "users": 1}, duration_s=1)
    )
    assert result["operations"]["flow"]["errors"] == {"save_missing": result["operations"]["flow"]["count"]}
    assert result["operations"]["flow/1"]["count"] == 0


async def test_cancelled_shard_returns_its_partial_result(trivial):
    ticks = []
    result = await run_shard(
        spec(f"{trivial}/mcp", [LIST], duration_s=60),
        on_tick=ticks.append,
        is_cancelled=lambda: len(ticks) >= 1,
    )
    assert result["cancelled"] is True
    assert 1 <= result["duration_s"] < 60
    assert result["operations"]["list"]["count"] > 0
    assert_consistent(result)


async def test_async_callbacks_are_awaited(trivial):
    """on_tick and is_cancelled may be coroutine functions (the execution part checks Redis or
    the database asynchronously and publishes ticks on the channel layer)."""
    ticks = []

    async def on_tick(tick):
        ticks.append(tick)

    async def is_cancelled():
        return len(ticks) >= 2

    result = await run_shard(
        spec(f"{trivial}/mcp", [LIST], duration_s=60), on_tick=on_tick, is_cancelled=is_cancelled
    )
    assert result["cancelled"] is True and [t["t"] for t in ticks][:2] == [0, 1]
    assert 2 <= result["duration_s"] < 60


async def test_invalid_specs_are_refused_before_sending(trivial):
    server_log(trivial, clear=True)
    with pytest.raises(ValueError, match="unknown mode"):
        await run_shard(spec(f"{trivial}/mcp", [LIST], mode="carrier-pigeon"))
    with pytest.raises(ValueError, match="arrival model"):
        await run_shard(spec(f"{trivial}/mcp", [LIST], arrival={"model": "poisson"}))
    with pytest.raises(ValueError, match="shape"):
        await run_shard(
            spec(f"{trivial}/mcp", [LIST], arrival={"model": "open", "rate": 5, "shape": "zigzag"})
        )
    bad = {**LIST, "kind": "tools/call", "name": "echo", "arguments": {"x": "{{ random.gauss(0, 1) }}"}}
    with pytest.raises(ValueError, match="unknown template expression"):
        await run_shard(spec(f"{trivial}/mcp", [bad]))
    assert server_log(trivial)["bodies"] == []


@pytest.mark.parametrize(
    ("tool", "kind", "timeout_s"),
    [
        ("fail500", "http_500", 5),
        ("slow", "timeout", 0.3),
        ("tool_error", "tool_error", 5),
        ("rpc_error", "jsonrpc_-32602", 5),
        ("garbage", "protocol", 5),
        ("drop", "disconnect", 5),
    ],
)
async def test_error_kinds(trivial, tool, kind, timeout_s):
    op = {"label": "bad", "kind": "tools/call", "weight": 1, "name": tool, "arguments": {"ms": 2000}}
    result = await run_shard(
        spec(
            f"{trivial}/mcp",
            [op, LIST],
            duration_s=1.5,
            timeout_s=timeout_s,
            arrival={"model": "closed", "users": 2},
        )
    )
    bad = result["operations"]["bad"]
    assert bad["count"] > 0 and bad["errors"] == {kind: bad["count"]}
    assert result["operations"]["list"]["errors"] == {}
    assert result["orgs"]["org-a"]["errors"] == {kind: bad["count"]}
    assert_consistent(result)


async def test_connect_error():
    url = f"http://127.0.0.1:{free_port()}/mcp"  # nobody listens
    result = await run_shard(
        spec(url, [LIST], duration_s=1, arrival={"model": "closed", "users": 1, "think_ms": 20})
    )
    assert result["operations"]["list"]["count"] > 0
    assert set(result["operations"]["list"]["errors"]) == {"connect"}


async def test_endpoints_weights_split_users(trivial):
    endpoints = [
        {"org": "heavy", "url": f"{trivial}/mcp", "headers": {}, "weight": 3},
        {"org": "light", "url": f"{trivial}/mcp", "headers": {}, "weight": 1},
    ]
    result = await run_shard(
        spec("", [LIST], endpoints=endpoints, arrival={"model": "closed", "users": 4, "think_ms": 10})
    )
    assert result["orgs"]["heavy"]["count"] > result["orgs"]["light"]["count"] > 0
    assert_consistent(result)
