"""Live progress of a run on the channel layer (the run page's websocket listens to it).

Group ``loadrun_<uuid hex>``; messages:

- ``{"type": "loadrun.tick", "phase", "shard", "t", "count", "errors", "p50", "p95", "p99"}`` once
  per measured second of every shard (from whichever process runs it: a Celery worker publishes
  through channels_redis with ``REDIS_URL``);
- ``{"type": "loadrun.status", "status", "shards_done", "shards_total"}`` when the run starts and
  whenever a shard ends;
- ``{"type": "loadrun.finished", "status", "verdict"}`` once, when the run has its report.

Publishing never breaks a run: a channel layer that is down costs the live view, not the result.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


def group_name(run_uuid: Any) -> str:
    """``loadrun_<uuid hex>`` for a LoadRun, its uuid or the uuid's text."""
    value = getattr(run_uuid, "uuid", run_uuid)
    return f"loadrun_{getattr(value, 'hex', str(value).replace('-', ''))}"


async def apublish(run_uuid: Any, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group_name(run_uuid), message)
    except Exception:  # noqa: BLE001 (the live view is best effort)
        log.warning("loadtest: could not publish %s for run %s", message.get("type"), run_uuid, exc_info=True)


def publish(run_uuid: Any, message: dict[str, Any]) -> None:
    """From synchronous code (no running event loop in this thread)."""
    try:
        async_to_sync(apublish)(run_uuid, message)
    except Exception:  # noqa: BLE001
        log.warning("loadtest: could not publish %s for run %s", message.get("type"), run_uuid, exc_info=True)


def tick_message(phase: str, shard: int, tick: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "loadrun.tick",
        "phase": phase,
        "shard": shard,
        "t": tick.get("t"),
        "count": tick.get("count"),
        "errors": tick.get("errors"),
        "p50": tick.get("p50"),
        "p95": tick.get("p95"),
        "p99": tick.get("p99"),
    }


def status_message(run: Any) -> dict[str, Any]:
    return {
        "type": "loadrun.status",
        "status": run.status,
        "shards_done": run.shards_done,
        "shards_total": run.shards_total,
    }


def finished_message(run: Any) -> dict[str, Any]:
    return {"type": "loadrun.finished", "status": run.status, "verdict": run.verdict}
