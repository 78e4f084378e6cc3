"""The fault-injecting server in-process: every tool, the settings per connection, their parsing
and bounds, and the validation of a server connection's options when it is saved."""

from __future__ import annotations

import random

import anyio
import pytest
from django.core.exceptions import ValidationError
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED

from mcp_servers.faults.config import (
    MAX_DELAY_MS,
    FaultConfigError,
    FaultSettings,
    Latency,
    from_env,
    parse_args,
    validate_options,
)
from mcp_servers.faults.server import build_server
from omni.registry.models import ServerConnection

from .conftest import ToolCaller

TOOLS = {"echo", "slow", "flaky", "fail", "hang", "disconnect", "oversized", "stats"}


async def protocol_error(caller: ToolCaller, tool: str, **arguments) -> MCPError:
    """The JSON-RPC error a call must end with (caught inside the client, before its task group
    would wrap it)."""
    async with Client(caller.server, mode=caller.mode) as client:
        with pytest.raises(MCPError) as caught:
            await client.call_tool(tool, arguments)
    return caught.value


@pytest.fixture
def faults() -> ToolCaller:
    return ToolCaller(build_server())


# --------------------------------------------------------------------------- the tools
async def test_the_tools_and_their_schemas():
    async with Client(build_server()) as client:
        assert client.server_info is not None and client.server_info.name == "faults"
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and len(tool.description) > 20, tool.name
        assert tool.output_schema and tool.output_schema["type"] == "object", tool.name
        assert "ctx" not in tool.input_schema.get("properties", {}), tool.name
    slow = tools["slow"].input_schema["properties"]
    assert slow["distribution"]["enum"] == ["fixed", "uniform", "normal", "exponential"]
    assert slow["ms"]["maximum"] == MAX_DELAY_MS and slow["max_ms"]["maximum"] == MAX_DELAY_MS
    assert tools["hang"].input_schema["properties"]["seconds"]["maximum"] == 600
    assert tools["oversized"].input_schema["properties"]["size_bytes"]["maximum"] == 32 * 1024 * 1024


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_echo_and_slow(mode: str):
    faults = ToolCaller(build_server(), mode=mode)
    assert await faults.ok("echo", text="hello") == {"text": "hello", "connection_delay_ms": 0.0}
    fixed = await faults.ok("slow", distribution="fixed", ms=30)
    assert fixed == {"distribution": "fixed:30", "delay_ms": 30.0, "connection_delay_ms": 0.0}
    # Bounded: a normal draw far above max_ms is clamped to it; a seeded draw repeats.
    capped = await faults.ok("slow", distribution="normal", ms=5000, stddev_ms=10, max_ms=15, seed=1)
    assert capped["delay_ms"] == 15.0
    first = await faults.ok("slow", distribution="uniform", ms=1, high_ms=20, seed=42)
    again = await faults.ok("slow", distribution="uniform", ms=1, high_ms=20, seed=42)
    assert first == again and 1 <= first["delay_ms"] <= 20
    assert first["delay_ms"] == Latency.of("uniform", 1, 20).sample(random.Random(42))
    exp = await faults.ok("slow", distribution="exponential", ms=5, seed=3)
    assert exp["distribution"] == "exponential:5" and exp["delay_ms"] >= 0
    # The schema refuses what is out of bounds (no unbounded sleep).
    result = await faults.call("slow", ms=MAX_DELAY_MS + 1)
    assert result.is_error
    assert "uniform:LOW:HIGH needs LOW <= HIGH" in await faults.error(
        "slow", distribution="uniform", ms=20, high_ms=10
    )


async def test_flaky_and_fail(faults: ToolCaller):
    assert (await faults.ok("flaky", error_rate=0.0))["failed"] is False
    assert "flaky: failed" in await faults.error("flaky", error_rate=1.0)
    error = await protocol_error(faults, "flaky", error_rate=1.0, kind="protocol", code=-32001)
    assert error.error.code == -32001 and error.error.data["fault"] == "flaky"
    # A seeded draw is the same draw every time: fails exactly when it is below the rate.
    draw = round(random.Random(5).random(), 6)
    assert (await faults.ok("flaky", error_rate=draw, seed=5))["draw"] == draw
    assert "flaky: failed" in await faults.error("flaky", error_rate=min(draw + 0.01, 1), seed=5)

    error = await protocol_error(faults, "fail", code=-32050, message="disk on fire")
    assert (error.error.code, error.error.message) == (-32050, "disk on fire")
    assert "upstream gone (code 503)" in await faults.error(
        "fail", kind="tool", code=503, message="upstream gone"
    )
    stats = await faults.ok("stats")
    assert stats["injected_errors"] == 5 and stats["calls"] == 7


async def test_hang_until_cancelled_or_its_bound(faults: ToolCaller):
    with pytest.raises(TimeoutError):
        with anyio.fail_after(0.5):
            await faults.call("hang", seconds=600)
    for _ in range(100):  # bounded: the cancelled hang unwinds
        stats = await faults.ok("stats")
        if stats["hangs_active"] == 0:
            break
        await anyio.sleep(0.05)
    assert (stats["hangs_active"], stats["hangs_cancelled"], stats["hangs_completed"]) == (0, 1, 0)
    done = await faults.ok("hang", seconds=0.05)
    assert done["slept_s"] >= 0.05
    assert (await faults.ok("stats"))["hangs_completed"] == 1
    assert (await faults.call("hang", seconds=601)).is_error  # over the bound: refused


async def test_hangs_in_flight_are_bounded_per_process(faults: ToolCaller, monkeypatch):
    from mcp_servers.faults import runtime

    monkeypatch.setitem(runtime._LIMITS, "hang", 1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: faults.call("hang", seconds=600))
        for _ in range(100):  # bounded: until the first hang sleeps
            if (await faults.ok("stats"))["hangs_active"] == 1:
                break
            await anyio.sleep(0.02)
        assert "too many hang calls in flight in this process (at most 1)" in await faults.error("hang")
        tg.cancel_scope.cancel()
    assert (await faults.ok("hang", seconds=0.01))["slept_s"] >= 0.01  # the slot is free again


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_disconnect_in_process_is_a_lost_connection(mode: str):
    progress: list[str | None] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    server = build_server()
    async with Client(server, mode=mode) as client:
        with pytest.raises(MCPError) as caught:
            await client.call_tool("disconnect", {}, progress_callback=on_progress)
        assert (caught.value.error.code, caught.value.error.message) == (
            CONNECTION_CLOSED,
            "Connection closed",
        )
    assert progress and "partial answer" in progress[0]
    assert server.runtime.counters.disconnects == 1


async def test_oversized(faults: ToolCaller):
    result = await faults.call("oversized", size_bytes=100_000)
    assert not result.is_error
    assert len(result.content[0].text.encode()) == 100_000
    assert result.structured_content == {"size_bytes": 100_000, "connection_delay_ms": 0.0}
    assert (await faults.call("oversized", size_bytes=32 * 1024 * 1024 + 1)).is_error


# --------------------------------------------------------------------------- settings per connection
async def test_a_slowed_connection_reports_its_delay_on_every_call():
    normal = ToolCaller(build_server())
    slowed = ToolCaller(build_server(["--latency", "fixed:40"]))
    for _ in range(3):
        assert (await normal.ok("echo", text="x"))["connection_delay_ms"] == 0.0
        assert (await slowed.ok("echo", text="x"))["connection_delay_ms"] == 40.0
    # Every tool applies it, on top of its own fault.
    assert (await slowed.ok("slow", ms=10))["connection_delay_ms"] == 40.0
    assert (await slowed.ok("stats"))["settings"]["latency"] == "fixed:40"


async def test_a_random_latency_is_bounded_and_repeatable_with_a_seed():
    args = ["--latency", "normal:30:10", "--seed", "9"]
    first = [(await ToolCaller(build_server(args)).ok("echo"))["connection_delay_ms"]]
    caller = ToolCaller(build_server(args))
    delays = [(await caller.ok("echo"))["connection_delay_ms"] for _ in range(5)]
    assert delays[0] == first[0]
    assert all(0 <= d <= MAX_DELAY_MS for d in delays) and len(set(delays)) > 1
    rng = random.Random(9)
    expected = []
    for _ in range(5):  # three draws per call: latency, hang, error
        expected.append(Latency.of("normal", 30, 10).sample(rng))
        rng.random(), rng.random()
    assert delays == expected


async def test_a_failing_connection():
    tool_errors = ToolCaller(build_server(["--error-rate", "1"]))
    assert "injected fault: connection error_rate 1" in await tool_errors.error("echo", text="x")
    protocol = ToolCaller(
        build_server(["--error-rate=1", "--error-kind", "protocol", "--error-code", "-32099"])
    )
    error = await protocol_error(protocol, "echo", text="x")
    assert error.error.code == -32099 and error.error.data == {"fault": "error_rate"}
    # stats is never faulted, so a failing connection can still be observed.
    assert (await protocol.ok("stats"))["injected_errors"] == 1
    # Half the calls of a seeded connection fail, the same ones each time.
    outcomes = []
    for _ in range(2):
        caller = ToolCaller(build_server(["--error-rate", "0.5", "--seed", "11"]))
        outcomes.append([(await caller.call("echo")).is_error for _ in range(20)])
    assert outcomes[0] == outcomes[1] and 0 < sum(outcomes[0]) < 20


async def test_a_hanging_connection_hangs_until_cancelled():
    caller = ToolCaller(build_server(["--hang-rate", "1"]))
    with pytest.raises(TimeoutError):
        with anyio.fail_after(0.3):
            await caller.call("echo")
    assert (await caller.ok("stats"))["hangs_cancelled"] == 1


def test_parsing_the_settings():
    settings = parse_args(["--latency", "uniform:5:15", "--error-rate=0.25", "--error-kind", "protocol"])
    assert settings == FaultSettings(
        latency=Latency("uniform", (5.0, 15.0)), error_rate=0.25, error_kind="protocol"
    )
    env = from_env({"FAULTS_LATENCY": "exponential:20", "FAULTS_SEED": "4", "FAULTS_HANG_RATE": ""})
    assert (str(env.latency), env.seed, env.hang_rate) == ("exponential:20", 4, 0.0)
    assert parse_args(["--seed", "1"], base=env).latency == env.latency  # flags over the environment
    assert parse_args([]) == FaultSettings()
    with pytest.raises(FaultConfigError) as caught:
        parse_args(["--latency", "gamma:3", "--error-rate", "2", "--bogus", "1", "--seed"])
    problems = " | ".join(caught.value.messages)
    for expected in (
        "unknown distribution 'gamma'",
        "error_rate must be between 0 and 1",
        "'--bogus'",
        "--seed needs a value",
    ):
        assert expected in problems
    for bad in ("fixed:-1", "fixed:60001", "uniform:9:3", "normal:1", "fixed:nan", "fixed:abc"):
        with pytest.raises(ValueError):
            Latency.parse(bad)
    assert validate_options(["--latency", "normal:50:10"]) == []
    assert validate_options(["--error-kind", "loud"]) == [
        "error_kind must be 'tool' or 'protocol', not 'loud'"
    ]
    assert all(
        0 <= Latency.of("normal", 100, 1000).sample(random.Random(i)) <= MAX_DELAY_MS for i in range(200)
    )


# --------------------------------------------------------------------------- validated when saved
def test_a_connections_options_are_validated_when_saved():
    good = ServerConnection(
        name="faults", transport="inprocess", target="faults", args=["--latency", "fixed:5"]
    )
    good.clean()
    bad = ServerConnection(name="faults", transport="inprocess", target="faults", args=["--error-rate", "3"])
    with pytest.raises(ValidationError) as caught:
        bad.clean()
    assert caught.value.message_dict["args"] == ["Option: error_rate must be between 0 and 1, not 3."]
    other = ServerConnection(name="utilities", transport="inprocess", target="utilities", args=["--x"])
    with pytest.raises(ValidationError) as caught:
        other.clean()
    assert "takes no options" in caught.value.message_dict["args"][0]
    ServerConnection(name="utilities", transport="inprocess", target="utilities").clean()


@pytest.mark.django_db
def test_the_server_form_shows_a_bad_option_as_a_field_error():
    from omni.registry.forms import ServerForm
    from omni.tenants.context import OrgContext
    from omni.tenants.services import create_organization
    from tests.live import unique_slug

    org = create_organization(unique_slug("faults"), "Faults")
    ctx = OrgContext(organization=org, principal="test", role="owner")
    data = {
        "name": "faults",
        "transport": "inprocess",
        "target": "faults",
        "args": "--latency\nnormal:50\n",
        "enabled": "on",
        "timeout_seconds": "10",
    }
    form = ServerForm(data, ctx=ctx)
    assert not form.is_valid()
    assert form.errors["args"] == ["Option: normal takes 2 number(s) of milliseconds, not 1."]
    form = ServerForm({**data, "args": "--latency\nnormal:50:10\n--error-rate\n0.1"}, ctx=ctx)
    assert form.is_valid(), form.errors
    saved = form.save()
    assert saved.args == ["--latency", "normal:50:10", "--error-rate", "0.1"]


# --------------------------------------------------------------------------- the shipped load profile
async def test_the_shipped_load_profile_calls_tools_the_server_has():
    """loadtests/faults.yaml (its full format is checked by the profile parser's tests): it loads
    the gateway on faults__echo with arguments the tool accepts."""
    from pathlib import Path

    import yaml

    profile = yaml.safe_load((Path(__file__).resolve().parents[2] / "loadtests" / "faults.yaml").read_text())
    assert (profile["name"], profile["target"], profile["arrival"]) == (
        "faults",
        "gateway",
        {"model": "closed", "users": 2},
    )
    faults = ToolCaller(build_server())
    for operation in profile["operations"]:
        server, _, tool = operation["tool"].partition("__")
        assert server == "faults"
        assert (await faults.ok(tool, **operation.get("arguments", {})))["connection_delay_ms"] == 0.0


def test_the_gateway_keeps_a_servers_error_wrapped_in_task_groups():
    """An in-process server's JSON-RPC error can reach the gateway wrapped in exception groups
    (the playground runner's path; faults_errors' protocol_error step failed with -32010 before):
    the sole MCPError inside is the server's answer; anything else stays a group."""
    from omni.gateway.downstream import _sole_mcp_error

    error = MCPError(code=-32050, message="disk on fire")
    assert _sole_mcp_error(ExceptionGroup("a", [ExceptionGroup("b", [error])])) is error
    assert _sole_mcp_error(ExceptionGroup("a", [error, MCPError(code=-1, message="x")])) is None
    assert _sole_mcp_error(ExceptionGroup("a", [ValueError("no")])) is None
