"""What the system health page shows, collected in one call (``collect()``), also as JSON.

Runs in a worker thread (the page view is synchronous): every part is bounded by a short timeout
and a part that fails is reported with its error instead of failing the page.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connections

from omni.monitoring.health import errors, heartbeats, scheduler

logger = logging.getLogger(__name__)


def _short(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0][:160]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def database_latency() -> dict[str, Any]:
    """Milliseconds of a ``SELECT 1`` round-trip on the default database."""
    connection = connections["default"]
    try:
        connection.ensure_connection()
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {
            "ok": True,
            "ms": round((time.perf_counter() - started) * 1000, 2),
            "vendor": connection.vendor,
        }
    except Exception as exc:
        return {"ok": False, "error": _short(exc), "vendor": connection.vendor}


def _redis_client() -> Any:
    import redis

    timeout = settings.READYZ_CHECK_TIMEOUT
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout)


def redis_latency() -> dict[str, Any]:
    """Milliseconds of a ``PING`` round-trip (the connection made first, not timed)."""
    if not settings.REDIS_URL:
        return {"ok": True, "configured": False}
    client = _redis_client()
    try:
        client.ping()  # connect
        started = time.perf_counter()
        client.ping()
        return {"ok": True, "configured": True, "ms": round((time.perf_counter() - started) * 1000, 2)}
    except Exception as exc:
        return {"ok": False, "configured": True, "error": _short(exc)}
    finally:
        client.close()


def queue_names() -> list[str]:
    from omni.celery import app

    names = {app.conf.task_default_queue or "celery"}
    for queue in app.conf.task_queues or ():
        names.add(getattr(queue, "name", str(queue)))
    for route in (app.conf.task_routes or {}).values() if isinstance(app.conf.task_routes, dict) else ():
        if isinstance(route, dict) and route.get("queue"):
            names.add(route["queue"])
    return sorted(names)


def queue_depth() -> dict[str, Any]:
    """Messages waiting in each Celery queue on the broker (``LLEN``); eager without Redis."""
    if not settings.REDIS_URL or settings.CELERY_TASK_ALWAYS_EAGER:
        return {"eager": True, "queues": {}}
    client = _redis_client()
    try:
        pipe = client.pipeline()
        names = queue_names()
        for name in names:
            pipe.llen(name)
        depths = dict(zip(names, pipe.execute(), strict=True))
        return {"eager": False, "ok": True, "queues": depths, "total": sum(depths.values())}
    except Exception as exc:
        return {"eager": False, "ok": False, "queues": {}, "error": _short(exc)}
    finally:
        client.close()


def _readiness() -> tuple[list[dict[str, Any]], list[str]]:
    from omni.monitoring.readiness import run_checks

    checks = async_to_sync(run_checks)()
    unapplied = next((c.extra.get("unapplied", []) for c in checks if c.name == "migrations"), [])
    rows = [{"name": c.name, **c.as_json()} for c in checks]
    return rows, unapplied


def beat_status(processes: list[dict[str, Any]]) -> dict[str, Any]:
    """Beat's last tick: the newer of beat's own last send and the last run of ``health_tick``.
    ``late`` when older than two ``HEALTH_TICK_SECONDS`` plus a heartbeat interval."""
    try:
        tick = heartbeats.last_tick()
    except Exception as exc:
        tick, error = None, _short(exc)
    else:
        error = ""
    sent = max(
        (
            p["payload"].get("last_tick") or 0
            for p in processes
            if p["kind"] == "beat" and p["state"] != "gone"
        ),
        default=0,
    )
    ran = (tick or {}).get("at") or 0
    last = max(sent, ran) or None
    embedded = scheduler.enabled() and not settings.REDIS_URL
    allowed = settings.HEALTH_TICK_SECONDS * 2 + heartbeats.interval()
    age = None if last is None else round(max(0.0, time.time() - last), 1)
    if last is None:
        state = "never"
    else:
        state = "late" if age > allowed else "ok"
    return {
        "mode": "in-process" if embedded else "beat",
        "last_tick": _iso(last),
        "last_sent": _iso(sent or None),
        "last_run": _iso(ran or None),
        "last_run_by": (tick or {}).get("source", ""),
        "age": age,
        "state": state,
        **({"error": error} if error else {}),
    }


def collect() -> dict[str, Any]:
    """Everything the system health page shows (JSON-serialisable)."""
    now = time.time()
    body: dict[str, Any] = {"generated": _iso(now), "redis_configured": bool(settings.REDIS_URL)}
    try:
        processes = heartbeats.list_all()
        body["heartbeat_error"] = ""
    except Exception as exc:
        processes = []
        body["heartbeat_error"] = _short(exc)
    for item in processes:
        item["started_iso"] = _iso(item["started"])
        item["last_seen_iso"] = _iso(item["last_seen"])
    body["heartbeat"] = {"interval": heartbeats.interval(), "ttl": heartbeats.ttl()}
    body["processes"] = {kind: [p for p in processes if p["kind"] == kind] for kind in heartbeats.KINDS}
    body["beat"] = beat_status(processes)
    running = scheduler.current()
    body["scheduler"] = {
        "setting": settings.INPROCESS_SCHEDULER,
        "enabled": scheduler.enabled(),
        **(running.state() if running is not None else {"running": False, "entries": []}),
    }
    body["queues"] = queue_depth()
    body["database"] = database_latency()
    body["redis"] = redis_latency()
    try:
        checks, unapplied = _readiness()
    except Exception as exc:
        checks, unapplied = [{"name": "readiness", "ok": False, "error": _short(exc)}], []
    body["readiness"] = checks
    body["versions"] = {**heartbeats.versions(), "unapplied_migrations": unapplied}
    try:
        body["errors"] = [{**entry, "time_iso": _iso(entry.get("time"))} for entry in errors.last_errors()]
    except Exception as exc:
        body["errors"] = []
        body["errors_error"] = _short(exc)
    return body
