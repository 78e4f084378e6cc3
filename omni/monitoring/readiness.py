"""Readiness checks behind ``GET /readyz``: can this process serve traffic right now?

Each check is bounded by ``READYZ_CHECK_TIMEOUT`` seconds and never hangs, whatever PostgreSQL or
Redis do: database work runs on a small private thread pool (``asyncio.wait_for`` around it), the
Redis ping uses its own short-lived client with socket timeouts. Concurrent probes of one process
share one run (single flight), so a burst of probes costs one round of checks.

Checks, in the order they are reported:

``database``    ``SELECT 1`` on the default database (a broken connection is closed, so the next
                probe reconnects: the process heals when the database returns).
``migrations``  every migration of the code is recorded in ``django_migrations``.
``redis``       ``PING`` to ``REDIS_URL`` (``"configured": false`` and ok without ``REDIS_URL``).
``keys``        ``SECRET_KEY`` set; ``FIELD_ENCRYPTION_KEY`` encrypts and decrypts, and decrypts
                the stored signing keys (a restored database with the wrong key fails here); a
                signing secret exists.
``draining``    the process has not begun to shut down (``omni.lifecycle``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connections

from omni import lifecycle

logger = logging.getLogger(__name__)

# Database checks run here, never on the loop nor on asgiref's single thread-sensitive thread (a
# hung connect would otherwise stall every ORM call of the process). Two threads: one probe runs
# at a time (single flight), the second absorbs a probe whose predecessor is still stuck.
_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="readyz")
_expected_migrations: set[tuple[str, str]] | None = None
_running: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Task]] = {}
_last_failing: tuple[str, ...] = ()


@dataclass
class Check:
    name: str
    ok: bool
    ms: float
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": self.ok, "ms": round(self.ms, 2), **self.extra}
        if self.error:
            body["error"] = self.error
        return body


def _short(exc: BaseException) -> str:
    """A short error for the public body (no connection strings): the type and a first line."""
    first = (str(exc).strip().splitlines() or [""])[0][:160]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


# --------------------------------------------------------------------------- database side (threads)
def _close_quietly() -> None:
    try:
        connections["default"].close()
    except Exception:  # noqa: S110 - the connection is broken already; nothing more to do
        pass


def _database() -> None:
    connection = connections["default"]
    try:
        connection.close_if_unusable_or_obsolete()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        _close_quietly()
        raise


def _migrations() -> dict[str, Any]:
    global _expected_migrations
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.recorder import MigrationRecorder

    if _expected_migrations is None:
        # The leaves of the code's migration graph (read from disk once): when a leaf is applied,
        # Django guarantees its ancestors are too.
        _expected_migrations = set(MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes())
    try:
        applied = set(MigrationRecorder(connections["default"]).applied_migrations())
    except Exception:
        _close_quietly()
        raise
    missing = sorted(f"{app}.{name}" for app, name in _expected_migrations - applied)
    if missing:
        raise _Unready(f"{len(missing)} unapplied: {', '.join(missing[:5])}", {"unapplied": missing[:20]})
    return {}


def _keys() -> dict[str, Any]:
    from encrypted_model_fields.fields import decrypt_str, encrypt_str

    from omni.gateway.models import SigningKey, SigningKeyUnreadable

    if not settings.SECRET_KEY:
        raise _Unready("SECRET_KEY is empty")
    probe = "omni-readyz"
    if decrypt_str(encrypt_str(probe).decode()) != probe:
        raise _Unready("FIELD_ENCRYPTION_KEY does not round-trip")
    try:
        stored = list(SigningKey.objects.filter(retired_at__isnull=True)[:20])
    except Exception:
        _close_quietly()
        raise
    for key in stored:
        try:
            key.secret_bytes()
        except SigningKeyUnreadable:
            raise _Unready(
                f"signing key {key.key_id} does not decrypt: FIELD_ENCRYPTION_KEY is not the key "
                "this database was written with"
            ) from None
    if not stored and not settings.OMNI_SIGNING_SECRET:
        raise _Unready("no signing key in the database and OMNI_SIGNING_SECRET is empty")
    return {"signing_keys": len(stored)}


class _Unready(Exception):
    def __init__(self, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.extra = extra or {}


# --------------------------------------------------------------------------- the loop side
async def _timed(name: str, run: Any, timeout: float) -> Check:
    started = time.perf_counter()
    try:
        extra = await asyncio.wait_for(run(), timeout)
        return Check(name, True, (time.perf_counter() - started) * 1000, extra=extra or {})
    except TimeoutError:
        return Check(name, False, (time.perf_counter() - started) * 1000, f"no answer within {timeout:g}s")
    except _Unready as exc:
        return Check(name, False, (time.perf_counter() - started) * 1000, str(exc), dict(exc.extra))
    except Exception as exc:
        return Check(name, False, (time.perf_counter() - started) * 1000, _short(exc))


def _in_thread(function: Any) -> Any:
    async def run() -> Any:
        return await asyncio.get_running_loop().run_in_executor(_executor, function)

    return run


async def _redis(timeout: float) -> dict[str, Any]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
    )
    try:
        await client.ping()
    finally:
        await client.aclose()
    return {}


async def _run_checks() -> list[Check]:
    timeout = settings.READYZ_CHECK_TIMEOUT

    async def redis_check() -> Check:
        if not settings.REDIS_URL:
            return Check("redis", True, 0.0, extra={"configured": False})
        return await _timed("redis", lambda: _redis(timeout), timeout)

    redis_task = asyncio.ensure_future(redis_check())
    checks = [await _timed("database", _in_thread(_database), timeout)]
    if checks[0].ok:
        checks.append(await _timed("migrations", _in_thread(_migrations), timeout))
        checks.append(await _timed("keys", _in_thread(_keys), timeout))
    else:
        checks += [
            Check(name, False, 0.0, "skipped: database unavailable") for name in ("migrations", "keys")
        ]
    checks.append(await redis_task)
    draining = lifecycle.is_draining()
    checks.append(Check("draining", not draining, 0.0, "the process is shutting down" if draining else None))
    return checks


async def run_checks() -> list[Check]:
    """Every check once; concurrent callers in one process share the run in progress."""
    loop = asyncio.get_running_loop()
    entry = _running.get(id(loop))
    if entry is None or entry[0] is not loop or entry[1].done():
        task = loop.create_task(_run_checks())
        _running[id(loop)] = (loop, task)
    else:
        task = entry[1]
    checks = await asyncio.shield(task)
    _log_transition(checks)
    return checks


def failing(checks: list[Check]) -> list[str]:
    """The names of the checks that failed, the root cause first (skipped checks left out)."""
    return [c.name for c in checks if not c.ok and not (c.error or "").startswith("skipped:")]


def _log_transition(checks: list[Check]) -> None:
    """Log when readiness changes, not on every probe."""
    global _last_failing
    now = tuple(failing(checks))
    if now == _last_failing:
        return
    _last_failing = now
    if now:
        details = "; ".join(f"{c.name}: {c.error}" for c in checks if c.name in now)
        logger.warning("readyz: not ready (%s)", details)
    else:
        logger.info("readyz: ready again")
