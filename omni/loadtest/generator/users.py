"""The virtual users of a shard: the closed model (``users`` that each send one request after the
other) and the open model (requests started on a schedule, ``arrival.rate_function``)."""

from __future__ import annotations

import asyncio
import math
import random
import time
from typing import TYPE_CHECKING

from omni.loadtest.generator import arrival as arrivals
from omni.loadtest.generator import protocol
from omni.loadtest.generator.operations import CompiledOp
from omni.loadtest.generator.transports import Channel

if TYPE_CHECKING:
    from omni.loadtest.generator.shard import Shard

clock = time.perf_counter  # as omni.loadtest.generator.shard
POLL_S = 0.2
OPEN_POOL_DEFAULT = 4
RETRY_OPEN_S = 0.1


def weights_split(total: int, weights: list[float]) -> list[int]:
    """``total`` users over endpoints by weight (largest remainder)."""
    s = sum(weights) or 1.0
    exact = [total * w / s for w in weights]
    counts = [int(math.floor(x)) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def seed_of(*parts: int) -> int:
    value = 0x9E3779B97F4A7C15
    for part in parts:
        value = (value * 1_000_003) ^ (part & 0xFFFFFFFFFFFFFFFF)
        value &= 0xFFFFFFFFFFFFFFFF
    return value


async def closed_user(shard: Shard, vu: int, endpoint_index: int) -> None:
    """One virtual user of the closed model: a request, think time, the next, until the window ends."""
    org = shard.endpoints[endpoint_index]["org"]
    rng = random.Random(seed_of(shard.seed, shard.index, vu))
    think_s = float(shard.arrival.get("think_ms") or 0.0) / 1000
    channel = shard.channel_for(endpoint_index)
    try:
        seq = 0
        end = shard.rec.window_end
        while not shard.stopping and clock() < end:
            op = shard.mix.choose(rng)
            if not channel.opened and not await shard.open_channel(channel, op, org):
                await asyncio.sleep(RETRY_OPEN_S)
                continue
            await shard.execute(op, channel, org, shard.context(vu, seq, rng))
            seq += 1
            if think_s > 0:
                await asyncio.sleep(think_s)
            else:
                await asyncio.sleep(0)  # let the other users and the watcher run
    finally:
        await asyncio.shield(channel.close())


async def open_model(shard: Shard, deadline: float) -> None:
    """The open model: requests start on the rate's schedule whatever the answers (at most
    ``max_in_flight`` at once; one that the bound stops is dropped and counted)."""
    rate_at = arrivals.rate_function(shard.arrival, float(shard.spec["duration_s"]))
    max_in_flight = int(shard.arrival.get("max_in_flight") or 1000)
    pool_size = max(1, int(shard.arrival.get("users") or OPEN_POOL_DEFAULT))
    if shard.mode == protocol.MODERN:
        pool_size = 1  # a stateless exchange: nothing to pool
    pools: list[list[Channel]] = [
        [shard.channel_for(i) for _ in range(pool_size)] for i in range(len(shard.endpoints))
    ]
    weights = [float(e.get("weight", 1.0)) for e in shard.endpoints]
    scheduler = random.Random(seed_of(shard.seed, shard.index, 0xA11))
    tasks: set[asyncio.Task] = set()
    window_start = shard.rec.window_start
    seq = 0

    async def one(scheduled: float, seq: int, endpoint_index: int, op: CompiledOp) -> None:
        shard.rec.record_lag(scheduled, clock() - scheduled)
        pool = pools[endpoint_index]
        vu = seq % len(pool)
        channel = pool[vu]
        org = shard.endpoints[endpoint_index]["org"]
        if not channel.opened:
            async with _open_lock(channel):
                if not channel.opened and not await shard.open_channel(channel, op, org):
                    return
        rng = random.Random(seed_of(shard.seed, shard.index, seq)) if op.has_templates else scheduler
        await shard.execute(op, channel, org, shard.context(vu, seq, rng))

    next_at = clock()
    try:
        while not shard.stopping and next_at < deadline:
            now = clock()
            launched = 0
            while next_at <= now and next_at < deadline and launched < 10_000:
                rate = rate_at(next_at - window_start)
                if rate <= 0:
                    next_at += 0.05
                    continue
                if len(tasks) >= max_in_flight:
                    shard.rec.drop(next_at)
                else:
                    endpoint_index = (
                        0 if len(weights) == 1 else scheduler.choices(range(len(weights)), weights)[0]
                    )
                    op = shard.mix.choose(scheduler)
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


def _open_lock(channel: Channel) -> asyncio.Lock:
    lock = getattr(channel, "_open_lock", None)
    if lock is None:
        lock = asyncio.Lock()
        channel._open_lock = lock  # type: ignore[attr-defined]
    return lock
