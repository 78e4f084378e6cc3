"""``run_shard``: one shard's load (``contracts.ShardSpec``) from one asyncio loop, over one
aiohttp session, and what it measured (``contracts.ShardResult``).

Timeline of a shard: warm-up (``warmup_s``, sent, not measured), then the measured window
(``duration_s``). At the window's end, or when ``is_cancelled()`` (polled every 0.2 s) says so,
every request still in flight is abandoned (it would not count) and the sessions are closed
(bounded). Every loop ends with the window or the cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import os
import random
import socket
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from omni.loadtest.generator import arrival as arrivals
from omni.loadtest.generator import protocol
from omni.loadtest.generator import users as vus
from omni.loadtest.generator.inprocess import LoopbackServer
from omni.loadtest.generator.operations import CompiledOp, Mix, compile_operations
from omni.loadtest.generator.protocol import Failure
from omni.loadtest.generator.stats import Recorder
from omni.loadtest.generator.templates import RenderContext
from omni.loadtest.generator.transports import Channel, Signer, failure_of, make_channel
from omni.playground.scenario_paths import find

logger = logging.getLogger(__name__)

# Latencies and the schedule use perf_counter: uvloop's loop.time() counts whole milliseconds.
clock = time.perf_counter
POLL_S = 0.2
MODES = (protocol.MODERN, "handshake", "sse")
OPEN_MIN_CONNECTIONS = 32


class Shard:
    def __init__(self, spec: dict[str, Any], on_tick: Callable | None, is_cancelled: Callable | None):
        self.spec = spec
        self.on_tick = on_tick
        self.is_cancelled = is_cancelled
        self.ops = compile_operations(spec["operations"])
        self.mix = Mix(self.ops)
        self.mode = spec["mode"]
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r} (one of {', '.join(MODES)})")
        if spec["arrival"].get("model", "closed") not in ("closed", "open"):
            raise ValueError(f"unknown arrival model {spec['arrival'].get('model')!r}")
        if float(spec["duration_s"]) <= 0:
            raise ValueError("duration_s must be positive")
        if spec["arrival"].get("model") == "open":
            arrivals.rate_function(spec["arrival"], float(spec["duration_s"]))  # ArrivalError
        self.timeout_s = float(spec.get("timeout_s") or 30.0)
        self.seed = int(spec.get("seed") or 0)
        self.index = int(spec.get("index") or 0)
        self.arrival = dict(spec["arrival"])
        self.endpoints = [dict(e) for e in spec["endpoints"]]
        if not self.endpoints:
            raise ValueError("a shard needs at least one endpoint")
        self.faker: Any = None
        if any(op.has_templates for op in self.ops):
            from faker import Faker

            self.faker = Faker()
        self.cancelled = False
        self.stopping = False
        self.in_flight = 0
        self.in_flight_max = 0
        self.signers: dict[int, Signer | None] = {}
        self.ticked = 0

    # ------------------------------------------------------------------ one request
    async def _send(self, channel: Channel, org: str, label: str, method: str, params: dict) -> Any:
        self.in_flight += 1
        if self.in_flight > self.in_flight_max:
            self.in_flight_max = self.in_flight
        started = clock()
        try:
            result = await channel.call(method, params)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failure = failure_of(exc)
            self.rec.record(label, org, started, clock(), failure.kind)
            raise failure from None
        finally:
            self.in_flight -= 1
        self.rec.record(label, org, started, clock(), None)
        return result

    async def execute(self, op: CompiledOp, channel: Channel, org: str, ctx: RenderContext) -> None:
        """One operation (a scenario: its steps in order); failures are recorded, not raised."""
        if not op.is_scenario:
            with contextlib.suppress(Failure):
                await self._send(channel, org, op.label, op.method, op.render(ctx))
            return
        started = clock()
        variables: dict[str, Any] = {}
        ctx.variables = variables
        kind = None
        for step in op.steps:
            try:
                params = step.render(ctx)
            except Exception:  # a saved variable that is missing or unusable
                kind = "template"
                break
            try:
                result = await self._send(channel, org, step.label, step.method, params)
            except Failure as failure:
                kind = failure.kind
                break
            for var, path in step.save:
                found = find(result, path)
                if not found:
                    kind = "save_missing"
                    break
                variables[var] = found[0]
            if kind:
                break
        self.rec.record(op.label, org, started, clock(), kind, request=False)

    def context(self, vu: int, seq: int, rng: random.Random) -> RenderContext:
        return RenderContext(vu=vu, seq=seq, rng=rng, faker=self.faker)

    # ------------------------------------------------------------------ channels
    def channel_for(self, endpoint_index: int) -> Channel:
        endpoint = self.endpoints[endpoint_index]
        meta = dict(endpoint.get("meta") or {})
        if endpoint.get("sign") or endpoint.get("inprocess_server"):
            meta.setdefault(protocol.ORG_META_KEY, endpoint["org"])
        return make_channel(
            self.mode,
            self.http,
            endpoint["url"],
            dict(endpoint.get("headers") or {}),
            timeout_s=self.timeout_s,
            revision=self.spec.get("revision"),
            meta=meta,
            signer=self.signers.get(endpoint_index),
        )

    async def open_channel(self, channel: Channel, op: CompiledOp, org: str) -> bool:
        """Open a session; a failure is recorded against the operation about to be sent."""
        started = clock()
        try:
            await channel.open()
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            label = op.steps[0].label if op.is_scenario else op.label
            self.rec.record(label, org, started, clock(), failure_of(exc).kind)
            await channel.close()
            return False

    # ------------------------------------------------------------------ arrival models
    # ------------------------------------------------------------------ the run
    async def _ticks(self, cpu: dict[str, float]) -> None:
        await asyncio.sleep(max(0.0, self.rec.window_start - clock()))
        cpu["start"] = time.process_time()
        for second in range(self.rec.seconds):
            await asyncio.sleep(max(0.0, self.rec.window_start + second + 1 - clock()))
            if self.stopping:
                return
            await self._tick(second)

    async def _tick(self, second: int) -> None:
        self.ticked = second + 1
        if self.on_tick is None:
            return
        try:
            outcome = self.on_tick(self.rec.tick(second))
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            logger.exception("on_tick failed (the load goes on)")

    async def _watch(self, deadline: float, workers: list[asyncio.Task]) -> None:
        while clock() < deadline:
            if self.is_cancelled is not None and await self._asked_to_cancel():
                self.cancelled = True
                return
            if workers and all(t.done() for t in workers):
                return
            await asyncio.sleep(min(POLL_S, max(0.0, deadline - clock())))

    async def _asked_to_cancel(self) -> bool:
        """``is_cancelled()``: a plain function or a coroutine function (an async check of the
        database or Redis; a synchronous ORM call is not allowed on the loop). A failing check
        is logged and the load goes on."""
        try:
            outcome = self.is_cancelled()  # type: ignore[misc]
            if inspect.isawaitable(outcome):
                outcome = await outcome
            return bool(outcome)
        except Exception:
            logger.exception("is_cancelled failed (the load goes on)")
            return False

    async def _signers(self) -> None:
        if not any(e.get("sign") for e in self.endpoints):
            return
        from omni.gateway.signing_keys import keyring

        key = await keyring.current()
        for i, endpoint in enumerate(self.endpoints):
            self.signers[i] = Signer(key.secret, key.key_id) if endpoint.get("sign") else None

    async def run(self) -> dict[str, Any]:
        await self._signers()
        max_conn = self._connection_limit()
        connector = aiohttp.TCPConnector(limit=max_conn, limit_per_host=max_conn, ttl_dns_cache=300)
        warmup = float(self.spec.get("warmup_s") or 0.0)
        duration = float(self.spec["duration_s"])
        async with aiohttp.ClientSession(
            connector=connector, json_serialize=protocol.dumps, skip_auto_headers=("User-Agent",)
        ) as self.http:
            t0 = clock()
            wall0 = time.time()
            self.rec = Recorder(
                window_start=t0 + warmup,
                duration_s=duration,
                samples=int(self.spec.get("samples") or 0),
                seed=self.seed,
            )
            for op in self.ops:
                self.rec.declare(op.label, scenario=op.is_scenario)
                for step in op.steps:
                    self.rec.declare(step.label)
            for endpoint in self.endpoints:
                self.rec.declare_org(endpoint["org"])
            deadline = self.rec.window_end
            cpu: dict[str, float] = {}
            ticker = asyncio.create_task(self._ticks(cpu))
            if self.arrival.get("model", "closed") == "open":
                workers = [asyncio.create_task(vus.open_model(self, deadline))]
            else:
                users = int(self.arrival.get("users") or 1)
                split = vus.weights_split(users, [float(e.get("weight", 1.0)) for e in self.endpoints])
                assignment = [i for i, n in enumerate(split) for _ in range(n)]
                workers = [
                    asyncio.create_task(vus.closed_user(self, vu, e)) for vu, e in enumerate(assignment)
                ]
            await self._watch(deadline, workers)
            stopped = clock()
            self.stopping = True
            cpu_end = time.process_time()
            for task in workers:
                task.cancel()
            if workers:
                await asyncio.wait(workers, timeout=10)
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        measured = max(0.0, min(stopped, self.rec.window_end) - self.rec.window_start)
        for second in range(self.ticked, math.ceil(measured) if measured > 0 else 0):
            await self._tick(second)  # the last second(s), ended when the window did
        parts = self.rec.result_parts(measured)
        return {
            "run": self.spec.get("run", ""),
            "phase": self.spec.get("phase", "main"),
            "index": self.index,
            "worker": f"{socket.gethostname()}:{os.getpid()}",
            "started": wall0 + warmup,
            "duration_s": round(measured, 6),
            "cancelled": self.cancelled,
            **parts,
            "generator": {
                "cpu_s": round(cpu_end - cpu.get("start", cpu_end), 6),
                "lag_ms_p99": self.rec.lag_ms_p99(),
                "in_flight_max": float(self.in_flight_max),
                "dropped": float(self.rec.dropped),
                "connections": float(max_conn),
            },
        }

    def _connection_limit(self) -> int:
        if self.arrival.get("model", "closed") == "open":
            # Enough connections for the peak rate at 250 ms a request; beyond that requests wait
            # for a connection inside the generator (counted in their latency) rather than
            # opening hundreds of connections at once against a server that is falling behind.
            need = int(self.arrival.get("max_in_flight") or 1000)
            need = min(need, max(OPEN_MIN_CONNECTIONS, int(arrivals.max_rate(self.arrival) * 0.25)))
        else:
            need = int(self.arrival.get("users") or 1)
        if self.mode == "sse":
            need *= 2  # each user's stream holds a connection
        return max(8, need + 8)


async def run_shard(
    spec: dict[str, Any],
    *,
    on_tick: Callable[[dict[str, Any]], Any] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Run one shard and return its ``ShardResult`` (see ``omni.loadtest.contracts``).

    ``on_tick(dict)`` is called once per measured second with ``{"t", "count", "errors", "p50",
    "p95", "p99"}`` (ms; None for a second without requests); ``is_cancelled()`` is polled every
    0.2 s and a cancelled shard returns its partial result with ``cancelled=True``. Both run on
    the shard's event loop: either may be a coroutine function (awaited), and neither may block
    (no synchronous ORM or ``async_to_sync`` there). Raises ``TemplateError`` (a template that
    does not compile) or ``ValueError`` (an unknown mode or arrival model) before sending anything.
    """
    shard = Shard(spec, on_tick, is_cancelled)
    inprocess = [e for e in shard.endpoints if e.get("inprocess_server")]
    if not inprocess:
        return await shard.run()
    with contextlib.ExitStack() as stack:
        for endpoint in inprocess:
            server = LoopbackServer(endpoint["inprocess_server"], shard.mode)
            endpoint["url"] = await asyncio.to_thread(stack.enter_context, server)
        try:
            return await shard.run()
        finally:
            await asyncio.to_thread(stack.close)
