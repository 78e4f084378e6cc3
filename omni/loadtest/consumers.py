"""The live run page's websocket: ``/ws/loadtests/<slug>/runs/<uuid>/``.

Authenticated on connect: an anonymous connection is closed with code 4403; a user who is not a
member of ``slug`` (or whose role may not read load tests), or a run that is not that
organization's, with 4404 — no hint that either exists. Then the consumer joins the run's group
``loadrun_<uuid hex>``, where the execution part publishes (``omni.loadtest.execution``):

* ``{"type": "loadrun.tick", "phase", "shard", "t", "count", "errors", "p50", "p95", "p99"}``
  once per measured second of each shard,
* ``{"type": "loadrun.status", "status", "shards_done", "shards_total"}``,
* ``{"type": "loadrun.finished", "status", "verdict"}``,

and forwards each to the browser as JSON with ``type`` "tick", "status" or "finished". The first
frame is ``{"type": "state", "status", "shards_done", "shards_total"}`` from the database (a page
opened after the run finished gets ``finished`` at once). The browser sends nothing; anything it
sends is ignored. Membership is checked again every ``RECHECK_S`` seconds of ticks: a removed
member stops receiving.
"""

from __future__ import annotations

import time
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404

from omni.loadtest.models import LoadRun
from omni.tenants.permissions import LOADTEST_READ, can
from omni.tenants.services import aresolve_user_context

CLOSE_UNAUTHENTICATED = 4403
CLOSE_NOT_FOUND = 4404
RECHECK_S = 10.0
TICK_FIELDS = ("phase", "shard", "t", "count", "errors", "p50", "p95", "p99")


try:  # the execution part names the group it publishes to
    from omni.loadtest.live import group_name
except ImportError:  # pragma: no cover - only before the parts are merged

    def group_name(run_uuid: Any) -> str:
        """The channel-layer group of a run (``loadrun_<uuid hex>``)."""
        return f"loadrun_{getattr(run_uuid, 'hex', str(run_uuid).replace('-', ''))}"


class LoadRunConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        kwargs = self.scope["url_route"]["kwargs"]
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        run = await self._run(user, kwargs["slug"], kwargs["run"])
        if run is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.slug = kwargs["slug"]
        self.checked = time.monotonic()
        self.group = group_name(run.uuid)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json(
            {
                "type": "state",
                "status": run.status,
                "shards_done": run.shards_done,
                "shards_total": run.shards_total,
            }
        )
        if run.finished:
            await self.send_json({"type": "finished", "status": run.status, "verdict": run.verdict})

    @staticmethod
    async def _run(user: Any, slug: str, run_uuid: Any) -> LoadRun | None:
        try:
            ctx = await aresolve_user_context(user, slug)
        except Http404:
            return None
        if not can(ctx, LOADTEST_READ):
            return None
        return await LoadRun.objects.for_org(ctx).filter(uuid=run_uuid).afirst()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        return None  # the page only listens

    async def _still_allowed(self) -> bool:
        if time.monotonic() - self.checked < RECHECK_S:
            return True
        self.checked = time.monotonic()
        kwargs = self.scope["url_route"]["kwargs"]
        if await self._run(self.scope["user"], kwargs["slug"], kwargs["run"]) is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return False
        return True

    async def loadrun_tick(self, event: dict[str, Any]) -> None:
        if await self._still_allowed():
            await self.send_json({"type": "tick", **{k: event.get(k) for k in TICK_FIELDS}})

    async def loadrun_status(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {
                "type": "status",
                "status": event.get("status"),
                "shards_done": event.get("shards_done"),
                "shards_total": event.get("shards_total"),
            }
        )

    async def loadrun_finished(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {"type": "finished", "status": event.get("status"), "verdict": event.get("verdict")}
        )
