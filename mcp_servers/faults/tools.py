"""The faults server's tools. Each applies its connection's settings first (``before_call``) and
reports the latency that applied (``connection_delay_ms``), then does its own fault."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, INTERNAL_ERROR, CallToolResult, TextContent
from pydantic import BaseModel, Field

from mcp_servers.faults.config import (
    DEFAULT_HANG_S,
    MAX_CODE,
    MAX_DELAY_MS,
    MAX_HANG_S,
    MIN_CODE,
    Latency,
)
from mcp_servers.faults.runtime import CUT_SCOPE_KEY, FaultRuntime, http_request

MAX_ECHO_CHARS = 10_000
MAX_OVERSIZED_BYTES = 32 * 1024 * 1024  # above the gateway's default 8 MiB response limit
MAX_PARTIAL_BYTES = 1024 * 1024
CONNECTION_DELAY = Field(description="The latency of the connection's settings applied to this call (ms)")

Ms = Annotated[float, Field(ge=0, le=MAX_DELAY_MS)]
Code = Annotated[int, Field(ge=MIN_CODE, le=MAX_CODE, description="JSON-RPC error code, e.g. -32603")]
Kind = Annotated[
    Literal["tool", "protocol"],
    Field(description="tool: a result with isError; protocol: a JSON-RPC error response"),
]


class EchoOut(BaseModel):
    text: str
    connection_delay_ms: float = CONNECTION_DELAY


class SlowOut(BaseModel):
    distribution: str = Field(description="The distribution the delay was drawn from, e.g. normal:100:20")
    delay_ms: float = Field(description="The delay this call slept (ms), clamped into 0..max_ms")
    connection_delay_ms: float = CONNECTION_DELAY


class FlakyOut(BaseModel):
    failed: bool = Field(description="Always false in a result: a failed draw is an error instead")
    draw: float = Field(description="The random number drawn (fails when below error_rate)")
    error_rate: float
    connection_delay_ms: float = CONNECTION_DELAY


class FailOut(BaseModel):
    failed: bool = Field(description="Never returned: fail always fails")


class HangOut(BaseModel):
    slept_s: float = Field(description="How long it slept before its bound ended the hang")
    connection_delay_ms: float = CONNECTION_DELAY


class DisconnectOut(BaseModel):
    padding: str = Field(description="Never seen whole: the connection is cut while it is sent")


class OversizedOut(BaseModel):
    size_bytes: int = Field(description="Size of the text content (bytes)")
    connection_delay_ms: float = CONNECTION_DELAY


class StatsOut(BaseModel):
    settings: dict[str, Any] = Field(description="This connection's fault settings")
    calls: int
    injected_errors: int
    hangs_active: int = Field(description="hang calls sleeping right now")
    hangs_cancelled: int = Field(description="hang calls ended by their caller (a timeout, a cancel)")
    hangs_completed: int
    disconnects: int


def make_tools(runtime: FaultRuntime) -> list[Callable[..., Any]]:
    """The tool functions of one server instance (they share ``runtime``)."""

    async def echo(
        ctx: Context,
        text: Annotated[str, Field(max_length=MAX_ECHO_CHARS, description="Text to send back")] = "",
    ) -> EchoOut:
        """Send the text back at once (only the connection's own fault settings apply): the
        trivial, fast tool for load tests and for measuring a slowed connection."""
        delay = await runtime.before_call(ctx)
        return EchoOut(text=text, connection_delay_ms=delay)

    async def slow(
        ctx: Context,
        distribution: Annotated[
            Literal["fixed", "uniform", "normal", "exponential"],
            Field(description="The distribution of the delay"),
        ] = "fixed",
        ms: Annotated[
            Ms, Field(description="fixed: the delay; uniform: the low end; else the mean (ms)")
        ] = 100.0,
        high_ms: Annotated[Ms | None, Field(description="uniform: the high end (ms)")] = None,
        stddev_ms: Annotated[Ms | None, Field(description="normal: the standard deviation (ms)")] = None,
        max_ms: Annotated[Ms, Field(description="Upper bound of the drawn delay (ms)")] = MAX_DELAY_MS,
        seed: Annotated[int | None, Field(ge=0, description="Seed of this draw (repeatable)")] = None,
    ) -> SlowOut:
        """Answer after a delay drawn from a latency distribution (fixed, uniform, normal or
        exponential, in milliseconds, bounded by max_ms and 60 s), and report the delay applied."""
        connection_delay = await runtime.before_call(ctx)
        try:
            if distribution == "uniform":
                latency = Latency.of("uniform", ms, ms if high_ms is None else high_ms)
            elif distribution == "normal":
                latency = Latency.of("normal", ms, stddev_ms or 0.0)
            else:
                latency = Latency.of(distribution, ms)
        except ValueError as exc:
            raise ToolError(str(exc)) from None
        rng = random.Random(seed) if seed is not None else runtime.state(ctx).rng  # noqa: S311
        delay = latency.sample(rng, cap_ms=max_ms)
        await anyio.sleep(delay / 1000)
        return SlowOut(distribution=str(latency), delay_ms=delay, connection_delay_ms=connection_delay)

    async def flaky(
        ctx: Context,
        error_rate: Annotated[float, Field(ge=0, le=1, description="Probability of failing (0..1)")] = 0.5,
        kind: Kind = "tool",
        code: Code = INTERNAL_ERROR,
        seed: Annotated[int | None, Field(ge=0, description="Seed of this draw (repeatable)")] = None,
    ) -> FlakyOut:
        """Fail with probability error_rate (a tool error, or a JSON-RPC error with the given
        code), otherwise answer with the random draw."""
        connection_delay = await runtime.before_call(ctx)
        rng = random.Random(seed) if seed is not None else runtime.state(ctx).rng  # noqa: S311
        draw = round(rng.random(), 6)
        if draw < error_rate:
            runtime.counters.injected_errors += 1
            message = f"flaky: failed (draw {draw:g} < error_rate {error_rate:g})"
            if kind == "protocol":
                raise MCPError(code=code, message=message, data={"fault": "flaky", "draw": draw})
            raise ToolError(message)
        return FlakyOut(failed=False, draw=draw, error_rate=error_rate, connection_delay_ms=connection_delay)

    async def fail(
        ctx: Context,
        code: Code = INTERNAL_ERROR,
        message: Annotated[str, Field(min_length=1, max_length=500, description="The error message")] = (
            "injected failure"
        ),
        kind: Kind = "protocol",
    ) -> FailOut:
        """Always fail: a JSON-RPC error with the chosen code and message (kind protocol), or a
        tool result with isError (kind tool)."""
        await runtime.before_call(ctx)
        runtime.counters.injected_errors += 1
        if kind == "protocol":
            raise MCPError(code=code, message=message, data={"fault": "fail"})
        raise ToolError(f"{message} (code {code})")

    async def hang(
        ctx: Context,
        seconds: Annotated[
            float, Field(gt=0, le=MAX_HANG_S, description=f"How long to sleep at most (s, <= {MAX_HANG_S:g})")
        ] = DEFAULT_HANG_S,
    ) -> HangOut:
        """Sleep until the caller gives up (a timeout or a cancellation ends it at once) or the
        bound in seconds is reached: for testing timeouts."""
        connection_delay = await runtime.before_call(ctx)
        slept = await runtime.hang(seconds)
        return HangOut(slept_s=slept, connection_delay_ms=connection_delay)

    async def disconnect(
        ctx: Context,
        partial_bytes: Annotated[
            int, Field(ge=0, le=MAX_PARTIAL_BYTES, description="Bytes of the answer sent before the cut")
        ] = 1024,
    ) -> DisconnectOut:
        """Cut the connection in the middle of the answer. Over HTTP (standalone) the server sends
        part of the response and closes the TCP connection; in-process it sends a progress message
        and ends the exchange as a lost connection does (MCP error -32000 "Connection closed")."""
        await runtime.before_call(ctx)
        runtime.counters.disconnects += 1
        request = http_request(ctx)
        if request is not None and request.scope.get(CUT_SCOPE_KEY):
            # The cutter around the HTTP app (cut.py) sends part of this answer, then closes.
            return DisconnectOut(padding="x" * max(2 * partial_bytes, 64))
        await ctx.report_progress(0.5, 1.0, "partial answer: the connection is about to be cut")
        raise MCPError(code=CONNECTION_CLOSED, message="Connection closed")

    async def oversized(
        ctx: Context,
        size_bytes: Annotated[
            int,
            Field(
                ge=0,
                le=MAX_OVERSIZED_BYTES,
                description=f"Size of the text result (<= {MAX_OVERSIZED_BYTES})",
            ),
        ] = 9 * 1024 * 1024,
    ) -> Annotated[CallToolResult, OversizedOut]:
        """Answer with a text result of the given number of bytes (default 9 MiB, over the
        gateway's default response limit of 8 MiB), for testing size limits."""
        connection_delay = await runtime.before_call(ctx)
        return CallToolResult(
            content=[TextContent(type="text", text="x" * size_bytes)],
            structured_content={"size_bytes": size_bytes, "connection_delay_ms": connection_delay},
        )

    async def stats(ctx: Context) -> StatsOut:
        """This server's counters (calls, injected errors, hangs active, cancelled, completed,
        disconnects) and the fault settings of the calling connection. No fault applies to it."""
        counters = runtime.counters
        return StatsOut(
            settings=runtime.state(ctx).settings.as_dict(),
            calls=counters.calls,
            injected_errors=counters.injected_errors,
            hangs_active=counters.hangs_active,
            hangs_cancelled=counters.hangs_cancelled,
            hangs_completed=counters.hangs_completed,
            disconnects=counters.disconnects,
        )

    return [echo, slow, flaky, fail, hang, disconnect, oversized, stats]
