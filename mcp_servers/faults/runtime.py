"""The state of one faults server: its settings per connection, random draws and counters.

``FaultRuntime.before_call(ctx)`` is what every tool (but ``stats``) runs first: it finds the
settings of the connection the call came through (the server's own, or the query string of the
HTTP request over them), sleeps the connection's latency, and hangs or fails as its rates say.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError

from mcp_servers.faults.config import MAX_HANG_S, FaultConfigError, FaultSettings, from_query

# How many distinct query-string settings one process remembers (each with its own random stream).
MAX_QUERY_STATES = 64
# The ASGI scope key the standalone server's connection cutter sets (see cut.py).
CUT_SCOPE_KEY = "omni.faults.cut"
# Per process (every instance together): hangs sleeping at once; beyond, a hang is refused at once
# rather than piled up.
MAX_HANGS = 200

_lock = threading.Lock()
_in_flight = {"hang": 0}
_LIMITS = {"hang": MAX_HANGS}


@contextlib.contextmanager
def slot(kind: str) -> Iterator[None]:
    """One of the process's ``kind`` slots, or a ``ToolError`` when they are all taken."""
    with _lock:
        if _in_flight[kind] >= _LIMITS[kind]:
            raise ToolError(
                f"too many {kind} calls in flight in this process (at most {_LIMITS[kind]}); try later"
            )
        _in_flight[kind] += 1
    try:
        yield
    finally:
        with _lock:
            _in_flight[kind] -= 1


@dataclass
class Counters:
    calls: int = 0
    injected_errors: int = 0
    hangs_active: int = 0
    hangs_cancelled: int = 0
    hangs_completed: int = 0
    disconnects: int = 0


@dataclass
class ConnectionState:
    settings: FaultSettings
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = self.settings.rng()


def http_request(ctx: Context) -> Any:
    """The HTTP request (Starlette) this call came in on, or None (in-process, stdio)."""
    try:
        return ctx.request_context.request
    except (ValueError, AttributeError):  # not bound to a request
        return None


class FaultRuntime:
    def __init__(self, settings: FaultSettings) -> None:
        self.base = ConnectionState(settings)
        self.counters = Counters()
        self._by_query: OrderedDict[tuple[tuple[str, str], ...], ConnectionState] = OrderedDict()

    def state(self, ctx: Context) -> ConnectionState:
        """The settings and random stream of the connection ``ctx``'s call came through."""
        request = http_request(ctx)
        params = getattr(request, "query_params", None)
        if not params:
            return self.base
        key = tuple(sorted((str(k), str(v)) for k, v in params.multi_items()))
        state = self._by_query.get(key)
        if state is None:
            if len({k for k, _ in key}) != len(key):
                raise ToolError("fault settings in the URL: each setting may be given once")
            try:
                settings = from_query(dict(key), base=self.base.settings)
            except FaultConfigError as exc:
                raise ToolError(f"fault settings in the URL are invalid: {exc}") from None
            state = ConnectionState(settings)
            self._by_query[key] = state
            while len(self._by_query) > MAX_QUERY_STATES:
                self._by_query.popitem(last=False)
        else:
            self._by_query.move_to_end(key)
        return state

    async def before_call(self, ctx: Context) -> float:
        """The connection's faults for one call; returns the latency it applied (ms)."""
        self.counters.calls += 1
        state = self.state(ctx)
        settings, rng = state.settings, state.rng
        # Always three draws in this order, so a seeded connection repeats itself exactly.
        delay_ms = settings.latency.sample(rng)
        hang_draw, error_draw = rng.random(), rng.random()
        if delay_ms:
            await anyio.sleep(delay_ms / 1000)
        if hang_draw < settings.hang_rate:
            await self.hang(MAX_HANG_S)
            raise ToolError(f"injected hang: no answer for {MAX_HANG_S:g}s (connection hang_rate)")
        if error_draw < settings.error_rate:
            self.counters.injected_errors += 1
            message = f"injected fault: connection error_rate {settings.error_rate:g}"
            if settings.error_kind == "protocol":
                raise MCPError(code=settings.error_code, message=message, data={"fault": "error_rate"})
            raise ToolError(message)
        return delay_ms

    async def hang(self, seconds: float) -> float:
        """Sleep ``seconds`` (at most MAX_HANG_S) unless cancelled first; returns the time slept."""
        started = time.monotonic()
        with slot("hang"):
            self.counters.hangs_active += 1
            try:
                await anyio.sleep(min(max(seconds, 0.0), MAX_HANG_S))
            except BaseException:
                self.counters.hangs_cancelled += 1
                raise
            finally:
                self.counters.hangs_active -= 1
        self.counters.hangs_completed += 1
        return round(time.monotonic() - started, 3)
