"""Runs with shards made directly (without the profiles part), for the execution tests."""

from __future__ import annotations

import asyncio
from typing import Any

from channels.layers import get_channel_layer

from omni.loadtest.models import LoadRun, LoadShard
from tests.factories import OrganizationFactory
from tests.live import unique_slug

STUB = "tests.loadtest.stub_generator.run_shard"


def shard_spec(run: LoadRun, phase: str, index: int, shards: int, **extra: Any) -> dict[str, Any]:
    return {
        "run": str(run.uuid),
        "phase": phase,
        "index": index,
        "shards": shards,
        "mode": "2026-07-28",
        "endpoints": [
            {
                "org": run.organization.slug,
                "url": "http://127.0.0.1:9/mcp",
                "headers": {"Authorization": "Bearer lt_secret"},
                "weight": 1.0,
            }
        ],
        "operations": [
            {"label": "list", "kind": "tools/list", "weight": 1.0},
            {"label": "echo", "kind": "tools/call", "weight": 1.0, "name": "utilities__echo"},
        ],
        "arrival": {"model": "closed", "users": 1, "think_ms": 0},
        "warmup_s": 0,
        "duration_s": 2,
        "timeout_s": 5,
        "seed": 7,
        "samples": 2000,
        **extra,
    }


def make_run(
    phases: dict[str, int] | None = None,
    org: Any = None,
    overrides: dict[tuple[str, int], dict] | None = None,
    **extra,
) -> LoadRun:
    """A queued run with ``phases`` (name -> shard count) of shards whose specs have ``extra``."""
    org = org or OrganizationFactory(slug=unique_slug("lt"))
    phases = phases or {"main": 2}
    run = LoadRun.objects.create(
        organization=org,
        profile_name="stubbed",
        spec={"name": "stubbed", "duration_s": extra.get("duration_s", 2), "warmup_s": 0},
    )
    for phase, count in phases.items():
        for index in range(count):
            spec = shard_spec(run, phase, index, count, **extra, **(overrides or {}).get((phase, index), {}))
            LoadShard.objects.create(run=run, organization=org, phase=phase, index=index, spec=spec)
    return run


class Listener:
    """Collects the channel-layer messages of a run's group (the live page's feed)."""

    def __init__(self, run: LoadRun):
        from omni.loadtest.live import group_name

        self.group = group_name(run)
        self.layer = get_channel_layer()
        self.channel = ""

    async def join(self) -> None:
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self.channel)

    async def drain(
        self, until_type: str = "loadrun.finished", limit: int = 500, wait_s: float = 5.0
    ) -> list[dict]:
        messages: list[dict] = []
        for _ in range(limit):
            try:
                message = await asyncio.wait_for(self.layer.receive(self.channel), wait_s)
            except TimeoutError:
                break
            messages.append(message)
            if message.get("type") == until_type:
                break
        await self.layer.group_discard(self.group, self.channel)
        return messages


def run_and_listen(run: LoadRun, timeout: float = 60) -> tuple[LoadRun, list[dict]]:
    """Start ``run``, wait for it and return it with the messages its group received meanwhile."""
    from django.db import connections

    from omni.loadtest.execution import start_run, wait_for_run

    def start_and_wait() -> LoadRun:
        try:
            start_run(run)
            return wait_for_run(run, timeout)
        finally:
            connections.close_all()

    async def main() -> tuple[LoadRun, list[dict]]:
        listener = Listener(run)
        await listener.join()
        finished = await asyncio.to_thread(start_and_wait)
        return finished, await listener.drain()

    return asyncio.run(main())
