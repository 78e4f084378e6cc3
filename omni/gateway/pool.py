"""Pooled downstream SDK clients, with failures contained to the call that met them.

One pool per event loop. A server connection (its pool key) gets up to ``max_clients`` long-lived
clients; a call takes the least busy one and another client is opened when every one already
carries ``calls_per_client`` calls (so many concurrent calls are not serialised through one stack).
A client is owned by a background task (anyio scopes must be exited by the task that entered them).

Containment rules (docs/gateway.md, "Containment"):

* a call that times out or is cancelled ends only itself: the SDK removes its waiter and sends the
  server ``notifications/cancelled``; the client and every other call on it carry on;
* an error answer from the server (``MCPError``) says nothing about the connection;
* a transport failure (connection refused or reset, the session closed, the owner task ended)
  *retires* the client: new calls get a fresh client, calls in flight on the old one finish or fail
  on their own, and the old client is closed when the last of them is done;
* idle clients (no call for ``MAX_IDLE`` seconds) are closed.

The pool key is chosen by the caller: the server connection and its limits today; a per-caller
key (a gateway session) gives a stateful server one downstream session per caller (issue 11).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED

logger = logging.getLogger(__name__)

MAX_IDLE = 60.0

Opener = Callable[[], AbstractAsyncContextManager[Client]]


class TransportFailure(Exception):
    """Marker base: the connection to the server failed (not the server's answer)."""


@dataclass(eq=False)
class Pooled:
    key: str
    client: Client
    stop: asyncio.Event
    task: asyncio.Task | None = None
    last_used: float = field(default_factory=time.monotonic)
    in_flight: int = 0
    broken: bool = False
    ended: bool = False

    def retire(self) -> None:
        """No new calls; closed once the calls in flight are done."""
        self.broken = True
        if self.in_flight == 0:
            self.stop.set()

    def release(self) -> None:
        self.in_flight -= 1
        self.last_used = time.monotonic()
        if self.broken and self.in_flight == 0:
            self.stop.set()

    @property
    def usable(self) -> bool:
        return not self.broken and not self.ended


class Pool:
    def __init__(self) -> None:
        self.clients: dict[str, list[Pooled]] = {}
        self.locks: dict[str, asyncio.Lock] = {}

    def _sweep(self, now: float) -> None:
        for key, clients in list(self.clients.items()):
            keep = []
            for pooled in clients:
                if pooled.in_flight == 0 and (not pooled.usable or now - pooled.last_used >= MAX_IDLE):
                    pooled.retire()
                elif pooled.usable:
                    keep.append(pooled)
            if keep:
                self.clients[key] = keep
            else:
                self.clients.pop(key, None)

    def _pick(self, key: str, calls_per_client: int, max_clients: int) -> Pooled | None:
        clients = [p for p in self.clients.get(key, ()) if p.usable]
        if not clients:
            return None
        best = min(clients, key=lambda p: p.in_flight)
        if best.in_flight >= calls_per_client and len(clients) < max_clients:
            return None  # every client is busy: open another
        return best

    async def acquire(
        self,
        key: str,
        opener: Opener,
        *,
        max_clients: int = 1,
        calls_per_client: int = 1 << 30,
        on_lost: Callable[[BaseException], None] | None = None,
    ) -> Pooled:
        pooled = self._pick(key, calls_per_client, max_clients)
        if pooled is None:
            lock = self.locks.setdefault(key, asyncio.Lock())
            async with lock:
                self._sweep(time.monotonic())
                pooled = self._pick(key, calls_per_client, max_clients)
                if pooled is None:
                    pooled = await _start(key, opener, on_lost)
                    self.clients.setdefault(key, []).append(pooled)
        pooled.in_flight += 1
        pooled.last_used = time.monotonic()
        return pooled

    def close(self) -> None:
        for clients in self.clients.values():
            for pooled in clients:
                pooled.broken = True
                pooled.stop.set()
        self.clients.clear()

    def retire(self, key: str) -> None:
        for pooled in self.clients.pop(key, ()):
            pooled.retire()


async def _start(key: str, opener: Opener, on_lost: Callable[[BaseException], None] | None = None) -> Pooled:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[Client] = loop.create_future()
    stop = asyncio.Event()
    holder: dict[str, Pooled] = {}

    async def own() -> None:
        try:
            async with opener() as client:
                ready.set_result(client)
                await stop.wait()
        except BaseException as exc:  # noqa: BLE001 - reported to the waiting caller or logged
            if not ready.done():
                ready.set_exception(exc)
            elif not stop.is_set():
                # Ended by itself (a stdio process died, a legacy SSE stream broke): the server
                # is reported lost, so its tools are withheld without waiting for a call.
                logger.info("pooled client %s ended: %r", key, exc)
                if on_lost is not None and not isinstance(exc, asyncio.CancelledError):
                    on_lost(exc)
        finally:
            if "pooled" in holder:
                holder["pooled"].ended = True

    task = loop.create_task(own(), name=f"mcp-client-{key}")
    try:
        client = await ready
    except BaseException:
        stop.set()
        raise
    pooled = Pooled(key=key, client=client, stop=stop, task=task)
    holder["pooled"] = pooled
    return pooled


_pools: dict[int, Pool] = {}


def pool() -> Pool:
    """The pool of the running event loop."""
    loop_id = id(asyncio.get_running_loop())
    current = _pools.get(loop_id)
    if current is None:
        current = _pools[loop_id] = Pool()
    return current


def close_all() -> None:
    """Close every pooled client of every loop (tests, configuration reloads)."""
    for each in _pools.values():
        each.close()


def is_transport_failure(exc: BaseException) -> bool:
    """Did the connection fail (as opposed to the server answering with an error, or a timeout)?"""
    if isinstance(exc, MCPError):
        return exc.error.code == CONNECTION_CLOSED and "byte limit" not in exc.error.message
    if isinstance(exc, BaseExceptionGroup):
        return any(is_transport_failure(e) for e in exc.exceptions)
    if isinstance(exc, TimeoutError):
        return False
    return isinstance(
        exc, OSError | anyio.ClosedResourceError | anyio.BrokenResourceError | TransportFailure
    ) or type(exc).__module__.startswith("httpx")


@contextlib.asynccontextmanager
async def lease(
    key: str,
    opener: Opener,
    *,
    max_clients: int = 1,
    calls_per_client: int = 1 << 30,
    on_lost: Callable[[BaseException], None] | None = None,
) -> AsyncIterator[Client]:
    """A pooled client for one call. Only a transport failure retires the client (for new calls);
    a timeout, a cancellation or an error answer leaves it to every other call. ``on_lost`` hears
    of a client that ended by itself."""
    pooled = await pool().acquire(
        key, opener, max_clients=max_clients, calls_per_client=calls_per_client, on_lost=on_lost
    )
    try:
        yield pooled.client
    except Exception as exc:
        if is_transport_failure(exc) or pooled.ended:
            pooled.retire()
        raise
    finally:
        pooled.release()


def stats() -> dict[str, Any]:
    """Clients and calls in flight per key, in this loop's pool (tests, diagnostics)."""
    return {key: [(p.in_flight, p.usable) for p in clients] for key, clients in pool().clients.items()}
