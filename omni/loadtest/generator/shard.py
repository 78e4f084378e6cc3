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
OPEN_POOL_DEFAULT = 4
OPEN_MIN_CONNECTIONS = 32
RETRY_OPEN_S = 0.1


def _weights_split(total: int, weights: list[float]) -> list[int]:
    """``total`` users over endpoints by weight (largest remainder)."""
    s = sum(weights) or 1.0
    exact = [total * w / s for w in weights]
    counts = [int(math.floor(x)) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _seed(*parts: int) -> int:
    value = 0x9E3779B97F4A7C15
    for part in parts:
        value = (value * 1_000_003) ^ (part & 0xFFFFFFFFFFFFFFFF)
        value &= 0xFFFFFFFFFFFFFFFF
    return value


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

    async def _open(self, channel: Channel, op: CompiledOp, org: str) -> bool:
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
    async def closed_user(self, vu: int, endpoint_index: int) -> None:
        org = self.endpoints[endpoint_index]["org"]
        rng = random.Random(_seed(self.seed, self.index, vu))
        think_s = float(self.arrival.get("think_ms") or 0.0) / 1000
        channel = self.channel_for(endpoint_index)
        try:
            seq = 0
            end = self.rec.window_end
            while not self.stopping and clock() < end:
                op = self.mix.choose(rng)
                if not channel.opened and not await self._open(channel, op, org):
                    await asyncio.sleep(RETRY_OPEN_S)
                    continue
                await self.execute(op, channel, org, self.context(vu, seq, rng))
                seq += 1
                if think_s > 0:
                    await asyncio.sleep(think_s)
                else:
                    await asyncio.sleep(0)  # let the other users and the watcher run
        finally:
            await asyncio.shield(channel.close())

    async def open_model(self, deadline: float) -> None:
        rate_at = arrivals.rate_function(self.arrival, float(self.spec["duration_s"]))
        max_in_flight = int(self.arrival.get("max_in_flight") or 1000)
        pool_size = max(1, int(self.arrival.get("users") or OPEN_POOL_DEFAULT))
        if self.mode == protocol.MODERN:
            pool_size = 1  # a stateless exchange: nothing to pool
        pools: list[list[Channel]] = [
            [self.channel_for(i) for _ in range(pool_size)] for i in range(len(self.endpoints))
        ]
        weights = [float(e.get("weight", 1.0)) for e in self.endpoints]
        scheduler = random.Random(_seed(self.seed, self.index, 0xA11))
        tasks: set[asyncio.Task] = set()
        window_start = self.rec.window_start
        seq = 0

        async def one(scheduled: float, seq: int, endpoint_index: int, op: CompiledOp) -> None:
            self.rec.record_lag(scheduled, clock() - scheduled)
            pool = pools[endpoint_index]
            vu = seq % len(pool)
            channel = pool[vu]
            org = self.endpoints[endpoint_index]["org"]
            if not channel.opened:
                async with self._open_lock(channel):
                    if not channel.opened and not await self._open(channel, op, org):
                        return
            rng = random.Random(_seed(self.seed, self.index, seq)) if op.has_templates else scheduler
            await self.execute(op, channel, org, self.context(vu, seq, rng))

        next_at = clock()
        try:
            while not self.stopping and next_at < deadline:
                now = clock()
                launched = 0
                while next_at <= now and next_at < deadline and launched < 10_000:
                    rate = rate_at(next_at - window_start)
                    if rate <= 0:
                        next_at += 0.05
                        continue
                    if len(tasks) >= max_in_flight:
                        self.rec.drop(next_at)
                    else:
                        endpoint_index = (
                            0 if len(weights) == 1 else scheduler.choices(range(len(weights)), weights)[0]
                        )
                        op = self.mix.choose(scheduler)
                        task = asyncio.create_task(one(next_at, seq, endpoint_index, op))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                        seq += 1
                        launched += 1
                    next_at += 1.0 / rate
                await asyncio.sleep(min(max(next_at - clock(), 0.0), POLL_S))
        finally:
            for task in list(tasks):
                task.cancel()
            if tasks:
                await asyncio.wait(list(tasks), timeout=5)
            for pool in pools:
                for channel in pool:
                    await asyncio.shield(channel.close())

    def _open_lock(self, channel: Channel) -> asyncio.Lock:
        lock = getattr(channel, "_open_lock", None)
        if lock is None:
            lock = asyncio.Lock()
            channel._open_lock = lock  # type: ignore[attr-defined]
        return lock

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
                workers = [asyncio.create_task(self.open_model(deadline))]
            else:
                users = int(self.arrival.get("users") or 1)
                split = _weights_split(users, [float(e.get("weight", 1.0)) for e in self.endpoints])
                assignment = [i for i, n in enumerate(split) for _ in range(n)]
                workers = [asyncio.create_task(self.closed_user(vu, e)) for vu, e in enumerate(assignment)]
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
