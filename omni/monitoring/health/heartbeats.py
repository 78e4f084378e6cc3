"""Heartbeats: every web process, Celery worker and beat says "still here" every
``HEALTH_HEARTBEAT_SECONDS``.

With ``REDIS_URL`` a heartbeat is one Redis hash per process, ``omni:health:hb:<kind>:<host>:<pid>``,
that expires after ``HEALTH_HEARTBEAT_MISSES`` missed beats: a process that stops beating (killed,
hung) disappears by itself. Without Redis (the embedded default) it is a row of
``monitoring.Heartbeat``; rows that missed that many beats are listed as ``gone`` and deleted by the
``health_tick`` task after ten times as long.

Everything here is synchronous and runs on a heartbeat thread (or a Celery task), never on an event
loop. Nothing here raises into its caller: a failing write is logged at WARNING (not ERROR, which
would feed the last-errors ring that this module also writes) and tried again on the next beat.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import platform
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "omni:health:hb:"
TICK_KEY = "omni:health:tick"
KINDS = ("web", "worker", "beat")
_failing: set[str] = set()  # processes whose last write failed (the warning is logged once)


def interval() -> float:
    return float(settings.HEALTH_HEARTBEAT_SECONDS)


def ttl() -> float:
    """After this many seconds without a beat a process counts as gone."""
    return interval() * settings.HEALTH_HEARTBEAT_MISSES


# --------------------------------------------------------------------------- versions
def _package(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


@functools.cache
def git_commit() -> str:
    """``OMNI_GIT_COMMIT`` when set (images built without .git), else ``git rev-parse HEAD`` of the
    checkout, else empty. Read once per process."""
    if commit := os.environ.get("OMNI_GIT_COMMIT", "").strip():
        return commit[:40]
    try:
        result = subprocess.run(  # noqa: S603
            ["git", "rev-parse", "HEAD"],  # noqa: S607
            cwd=Path(settings.BASE_DIR),
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout.strip()[:40] if result.returncode == 0 else ""


@functools.cache
def versions() -> dict[str, str]:
    """What this process runs: Python, Django, the mcp SDK, Celery, the git commit."""
    return {
        "python": platform.python_version(),
        "django": _package("django"),
        "mcp": _package("mcp"),
        "celery": _package("celery"),
        "commit": git_commit(),
    }


# --------------------------------------------------------------------------- one process's beat
@dataclass
class Process:
    """One beating process (this one): what its heartbeats say."""

    kind: str
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    started: float = field(default_factory=time.time)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.host}:{self.pid}"


def _redis():
    import redis

    timeout = max(0.5, min(5.0, interval()))
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout)


@functools.cache
def _client():
    return _redis()


def write(process: Process, payload: dict[str, Any]) -> bool:
    """Record one beat of ``process`` with ``payload``; False (logged) when it could not. The
    caller's thread keeps its database connection (``Beater`` closes its own after each beat)."""
    now = time.time()
    try:
        if settings.REDIS_URL:
            key = KEY_PREFIX + process.key
            mapping = {
                "kind": process.kind,
                "host": process.host,
                "pid": str(process.pid),
                "started": repr(process.started),
                "last_seen": repr(now),
                "versions": json.dumps(versions()),
                "payload": json.dumps(payload, default=str),
            }
            pipe = _client().pipeline()
            pipe.hset(key, mapping=mapping)
            pipe.expire(key, max(1, int(ttl() + 0.999)))
            pipe.execute()
        else:
            from omni.monitoring.models import Heartbeat

            Heartbeat.objects.update_or_create(
                key=process.key,
                defaults={
                    "kind": process.kind,
                    "host": process.host[:255],
                    "pid": process.pid,
                    "started_at": datetime.fromtimestamp(process.started, UTC),
                    "last_seen": datetime.fromtimestamp(now, UTC),
                    "info": {"versions": versions(), "payload": payload},
                },
            )
        if process.key in _failing:
            _failing.discard(process.key)
            logger.info("heartbeat of %s recorded again", process.key)
        return True
    except Exception as exc:
        if process.key not in _failing:  # once per outage, not on every beat
            _failing.add(process.key)
            logger.warning("heartbeat of %s not recorded: %r", process.key, exc)
        return False


def remove(process: Process) -> None:
    """Forget ``process`` at once (a clean shutdown): it does not linger until its TTL."""
    try:
        if settings.REDIS_URL:
            _client().delete(KEY_PREFIX + process.key)
        else:
            from omni.monitoring.models import Heartbeat

            Heartbeat.objects.filter(key=process.key).delete()
    except Exception as exc:
        logger.warning("heartbeat of %s not removed: %r", process.key, exc)


def record_tick(source: str) -> None:
    """The ``health_tick`` task ran: beat (or the in-process scheduler) is ticking and its tasks
    get executed. Stored as one Redis key, or a ``kind="tick"`` row."""
    now = time.time()
    value = {"at": now, "source": source, "host": socket.gethostname(), "pid": os.getpid()}
    if settings.REDIS_URL:
        _client().set(TICK_KEY, json.dumps(value))
        return
    from omni.monitoring.models import Heartbeat

    stamp = datetime.fromtimestamp(now, UTC)
    Heartbeat.objects.update_or_create(
        key="tick",
        defaults={
            "kind": "tick",
            "host": value["host"][:255],
            "pid": value["pid"],
            "started_at": stamp,
            "last_seen": stamp,
            "info": {"payload": value},
        },
    )


def last_tick() -> dict[str, Any] | None:
    if settings.REDIS_URL:
        raw = _client().get(TICK_KEY)
        return json.loads(raw) if raw else None
    from omni.monitoring.models import Heartbeat

    row = Heartbeat.objects.filter(key="tick").first()
    return row.info.get("payload") if row else None


def cleanup() -> int:
    """Delete database heartbeats gone for more than ten TTLs; returns how many (0 with Redis:
    its keys expire by themselves)."""
    if settings.REDIS_URL:
        return 0
    from omni.monitoring.models import Heartbeat

    cutoff = datetime.now(UTC) - timedelta(seconds=ttl() * 10)
    deleted, _ = Heartbeat.objects.exclude(kind="tick").filter(last_seen__lt=cutoff).delete()
    return deleted


# --------------------------------------------------------------------------- reading them all
def _state(age: float) -> str:
    if age > ttl():
        return "gone"
    if age > interval() * 1.5 + 1:
        return "late"
    return "ok"


def list_all() -> list[dict[str, Any]]:
    """Every known process: kind, host, pid, started, last_seen (epoch seconds), age, state
    (ok / late / gone), versions and payload. Ordered by kind, host, pid."""
    now = time.time()
    found: list[dict[str, Any]] = []
    if settings.REDIS_URL:
        client = _client()
        keys = list(client.scan_iter(match=KEY_PREFIX + "*", count=200))[:1000]
        pipe = client.pipeline()
        for key in keys:
            pipe.hgetall(key)
        for raw in pipe.execute():
            if not raw:
                continue  # expired between SCAN and HGETALL
            item = {k.decode(): v.decode() for k, v in raw.items()}
            try:
                found.append(
                    {
                        "kind": item["kind"],
                        "host": item["host"],
                        "pid": int(item["pid"]),
                        "started": float(item["started"]),
                        "last_seen": float(item["last_seen"]),
                        "versions": json.loads(item.get("versions") or "{}"),
                        "payload": json.loads(item.get("payload") or "{}"),
                    }
                )
            except (KeyError, ValueError):
                continue
    else:
        from omni.monitoring.models import Heartbeat

        for row in Heartbeat.objects.exclude(kind="tick")[:1000]:
            found.append(
                {
                    "kind": row.kind,
                    "host": row.host,
                    "pid": row.pid,
                    "started": row.started_at.timestamp(),
                    "last_seen": row.last_seen.timestamp(),
                    "versions": row.info.get("versions", {}),
                    "payload": row.info.get("payload", {}),
                }
            )
    for item in found:
        item["age"] = round(max(0.0, now - item["last_seen"]), 1)
        item["state"] = _state(item["age"])
    found.sort(
        key=lambda item: (
            KINDS.index(item["kind"]) if item["kind"] in KINDS else 9,
            item["host"],
            item["pid"],
        )
    )
    return found


def running_under_pytest() -> bool:
    """Background threads start by themselves in server processes, never inside a test run."""
    return "pytest" in sys.modules
