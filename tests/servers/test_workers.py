"""The tool worker pool (mcp_servers/workers.py) with real worker processes: every limit stops the
call with a clear error naming it, the overrunning worker is replaced, and the pool goes on serving."""

from __future__ import annotations

import asyncio
import os

import pytest
from mcp.server.mcpserver.exceptions import ToolError

from mcp_servers import workers


# Module-level, so they pickle by reference into the worker processes.
def spin_forever() -> None:
    while True:
        pass


def hold_memory(megabytes: int) -> int:
    block = bytearray(megabytes * 1024 * 1024)
    return len(block)


def refuse(message: str) -> None:
    raise ToolError(message)


def worker_pid() -> int:
    return os.getpid()


@pytest.fixture
def tight_pool(settings):
    """A pool of one worker with small limits (a new pool; the default one is restored afterwards)."""
    settings.TOOL_WORKERS = 1
    settings.TOOL_WORKER_CPU_SECONDS = 1
    settings.TOOL_WORKER_MEMORY_MB = 400
    settings.TOOL_WORKER_TIMEOUT_SECONDS = 60
    settings.TOOL_WORKER_QUEUE_PER_WORKER = 2
    workers.shutdown()
    yield settings
    workers.shutdown()


async def test_results_and_tool_errors_cross_the_process_boundary(tight_pool):
    assert await workers.run(hold_memory, 1) == 1024 * 1024
    with pytest.raises(ToolError, match="^as written$"):
        await workers.run(refuse, "as written")
    assert await workers.run(worker_pid) != os.getpid()  # it really ran elsewhere


async def test_cpu_limit_stops_a_runaway_call_and_the_worker_is_replaced(tight_pool):
    first = await workers.run(worker_pid)
    with pytest.raises(ToolError) as caught:
        await workers.run(spin_forever, label="spin")
    message = str(caught.value)
    assert message.startswith("spin was stopped") and "TOOL_WORKER_CPU_SECONDS" in message
    assert "1 s of CPU time" in message
    replacement = await workers.run(worker_pid)
    assert replacement != first  # the killed worker was replaced by a new process
    assert await workers.run(hold_memory, 1) == 1024 * 1024  # and the pool still serves


async def test_the_cpu_limit_is_per_call_not_per_worker_lifetime(tight_pool):
    # Many short calls on one worker add up to more than the 1 s limit; none of them is stopped.
    pid = await workers.run(worker_pid)
    for _ in range(40):
        await workers.run(hold_memory, 8)
    assert await workers.run(worker_pid) == pid


async def test_timeout_kills_the_worker(tight_pool):
    tight_pool.TOOL_WORKER_CPU_SECONDS = 600
    tight_pool.TOOL_WORKER_TIMEOUT_SECONDS = 0.5
    workers.shutdown()
    with pytest.raises(ToolError) as caught:
        await workers.run(spin_forever, label="spin")
    assert "TOOL_WORKER_TIMEOUT_SECONDS" in str(caught.value) and "0.5 s" in str(caught.value)
    assert await workers.run(hold_memory, 1) == 1024 * 1024


async def test_memory_limit(tight_pool):
    with pytest.raises(ToolError) as caught:
        await workers.run(hold_memory, 2048, label="hog")
    assert "TOOL_WORKER_MEMORY_MB" in str(caught.value) and "400 MB" in str(caught.value)
    assert await workers.run(hold_memory, 16) == 16 * 1024 * 1024


async def test_a_full_pool_refuses_at_once(tight_pool):
    tight_pool.TOOL_WORKER_CPU_SECONDS = 600
    tight_pool.TOOL_WORKER_TIMEOUT_SECONDS = 600
    tight_pool.TOOL_WORKER_QUEUE_PER_WORKER = 1
    workers.shutdown()
    await workers.run(worker_pid)  # started
    running = asyncio.ensure_future(workers.run(spin_forever))
    try:
        for _ in range(100):  # bounded: until the first call holds the pool's one place
            if workers._get_pool().in_flight == 1:
                break
            await asyncio.sleep(0.05)
        with pytest.raises(ToolError, match="TOOL_WORKERS x TOOL_WORKER_QUEUE_PER_WORKER"):
            await workers.run(worker_pid)
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
    assert await workers.run(hold_memory, 1) == 1024 * 1024  # the cancelled call's worker was replaced
