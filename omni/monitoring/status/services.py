"""Downstream server status: probe, record, read (docs/monitoring.md, "Downstream server status").

* ``probe_all()`` probes every enabled server connection (the periodic task runs it): a fresh
  connection through the gateway's own opener (``downstream.probe``), then the listing and its hash.
  The result is *up*, *degraded* (slower than ``STATUS_DEGRADED_LATENCY_SECONDS``, the listing
  changed since the last probe, or a listing refused by a downstream limit) or *down* (with an error
  category), written to ``ServerStatus`` (current), ``StatusProbe`` (raw, kept briefly) and
  ``StatusHour`` (uptime buckets).
* Passive signals (``passive``): the circuit breaker opening or closing, i.e. real traffic failing
  or recovering, records a transition — no database write per request.
* ``current_state`` / ``down_since``: the interface other parts use (alerts).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from omni.monitoring.models.status import DEGRADED, DOWN, UNKNOWN, UP, ServerStatus, StatusHour, StatusProbe

logger = logging.getLogger(__name__)

HOURS_KEPT = 35 * 24


@dataclass
class ProbeResult:
    connection_id: int
    state: str
    latency_ms: float | None = None
    error_category: str = ""
    error: str = ""
    listing_hash: str = ""
    tool_count: int | None = None


# --------------------------------------------------------------------------- error categories
def category_of(exc: BaseException) -> str:
    """A short category of a failed probe: refused, timeout, tls, auth, protocol, too_large,
    blocked, circuit_open, lost, internal."""
    from omni.gateway.downstream import DownstreamError
    from omni.security import failures

    if isinstance(exc, DownstreamError):
        if exc.kind == "timeout":
            return "timeout"
        if exc.kind == "too_large":
            return "too_large"
        if exc.kind == "circuit_open":
            return "circuit_open"
    chain: list[BaseException] = []
    seen = exc
    for _ in range(20):
        if seen is None:
            break
        chain.append(seen)
        if isinstance(seen, BaseExceptionGroup):
            chain.extend(seen.exceptions)
        seen = seen.__cause__ or seen.__context__
    for cause in chain:
        response = getattr(cause, "response", None)
        if getattr(response, "status_code", None) in (401, 403):
            return "auth"
    text = str(exc)
    for cause in chain:
        category = failures.failure_category(cause)
        if category != failures.INTERNAL:
            text = category
            break
    return {
        failures.REFUSED: "refused",
        failures.TIMED_OUT: "timeout",
        failures.TLS: "tls",
        failures.NOT_MCP: "protocol",
        failures.TOO_LARGE: "too_large",
        failures.LOST: "lost",
        getattr(failures, "BLOCKED", "blocked"): "blocked",
    }.get(text, _from_message(str(exc)))


def _from_message(message: str) -> str:
    lowered = message.lower()
    for needle, category in (
        ("refused", "refused"),
        ("unreachable", "refused"),
        ("timed out", "timeout"),
        ("tls", "tls"),
        ("not an mcp server", "protocol"),
        ("too large", "too_large"),
        ("blocked", "blocked"),
        ("401", "auth"),
        ("403", "auth"),
        ("unauthori", "auth"),
        ("connection lost", "lost"),
    ):
        if needle in lowered:
            return category
    return "error"


def listing_hash(listing: Any) -> str:
    """A stable hash of what the server offers (tools, prompts, resources, with definitions)."""
    parts = {
        "tools": sorted(t.model_dump_json(by_alias=True, exclude_none=True) for t in listing.tools),
        "prompts": sorted(p.model_dump_json(by_alias=True, exclude_none=True) for p in listing.prompts),
        "resources": sorted(r.model_dump_json(by_alias=True, exclude_none=True) for r in listing.resources),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


# --------------------------------------------------------------------------- probing
async def probe_connection(conn: Any, previous_hash: str = "") -> ProbeResult:
    """Probe one connection (no database access here: ``conn`` is loaded, the result returned)."""
    from omni.gateway import downstream
    from omni.registry.models import CredentialUnreadable

    try:
        target = downstream.Target.from_connection(conn)
    except CredentialUnreadable as exc:
        return ProbeResult(conn.pk, DOWN, error_category="credential", error=str(exc)[:300])
    timeout = min(target.timeout, settings.STATUS_PROBE_TIMEOUT_SECONDS)
    target = dataclasses.replace(target, timeout=timeout, allowlist=frozenset())
    started = time.perf_counter()
    try:
        listing = await downstream.probe(target)
    except Exception as exc:  # noqa: BLE001 - every failure is a result
        latency = (time.perf_counter() - started) * 1000
        category = category_of(exc)
        if category == "too_large":  # it answers, but its listing is refused: partial failure
            return ProbeResult(conn.pk, DEGRADED, latency, category, str(exc)[:300])
        return ProbeResult(conn.pk, DOWN, latency, category, str(exc)[:300])
    latency = (time.perf_counter() - started) * 1000
    digest = listing_hash(listing)
    result = ProbeResult(conn.pk, UP, latency, listing_hash=digest, tool_count=len(listing.tools))
    if latency > settings.STATUS_DEGRADED_LATENCY_SECONDS * 1000:
        result.state, result.error_category = DEGRADED, "slow"
        result.error = f"answered in {latency:.0f} ms (over {settings.STATUS_DEGRADED_LATENCY_SECONDS:g} s)"
    elif previous_hash and digest != previous_hash:
        result.state, result.error_category = DEGRADED, "listing_changed"
        result.error = "its listing changed since the last probe"
    elif listing.refused:
        result.state, result.error_category = DEGRADED, "partial"
        result.error = f"{len(listing.refused)} definition(s) left out by max_definition_bytes"
    return result


async def _probe_many(conns: list[Any], hashes: dict[int, str], jitter: float) -> list[ProbeResult]:
    bound = asyncio.Semaphore(settings.STATUS_PROBE_CONCURRENCY)

    async def one(conn: Any) -> ProbeResult:
        if jitter > 0:
            await asyncio.sleep(random.uniform(0, jitter))  # noqa: S311 - spreading load, not security
        async with bound:
            # Bounded twice: the probe's own deadline, plus a margin for the handshake's teardown.
            try:
                async with asyncio.timeout(settings.STATUS_PROBE_TIMEOUT_SECONDS + 5):
                    return await probe_connection(conn, hashes.get(conn.pk, ""))
            except TimeoutError:
                return ProbeResult(conn.pk, DOWN, error_category="timeout", error="probe timed out")

    return list(await asyncio.gather(*(one(conn) for conn in conns)))


def probe_all(*, jitter: float | None = None, connection_ids: list[int] | None = None) -> list[ProbeResult]:
    """Probe every enabled server connection (or those named) and record the results. Runs in a
    worker (or the embedded scheduler's thread): never on the web event loop."""
    from omni.registry.models import ServerConnection

    # Every organization's and every global connection: the platform's own probe task.
    conns = list(ServerConnection.objects.filter(enabled=True).select_related("organization"))
    if connection_ids is not None:
        conns = [c for c in conns if c.pk in set(connection_ids)]
    if not conns:
        return []
    hashes = dict(
        ServerStatus.objects.filter(connection__in=conns).values_list("connection_id", "listing_hash")
    )
    if jitter is None:
        jitter = settings.STATUS_PROBE_JITTER_SECONDS
    results = asyncio.run(_probe_many(conns, hashes, jitter))
    by_id = {c.pk: c for c in conns}
    for result in results:
        record(by_id[result.connection_id], result, source="probe")
    prune()
    return results


# --------------------------------------------------------------------------- recording
def record(conn: Any, result: ProbeResult, *, source: str = "probe") -> ServerStatus:
    """Write one result: the current status, a raw row and the hour's bucket."""
    now = timezone.now()
    with transaction.atomic():
        status, _ = ServerStatus.objects.select_for_update().get_or_create(
            connection_id=conn.pk, defaults={"organization_id": conn.organization_id}
        )
        if status.state != result.state:
            status.since = now
        status.state = result.state
        status.checked_at = now
        status.source = source
        status.latency_ms = result.latency_ms
        status.error_category = result.error_category
        status.error = result.error
        if result.listing_hash:
            status.listing_hash = result.listing_hash
        if result.tool_count is not None:
            status.tool_count = result.tool_count
        status.consecutive_failures = status.consecutive_failures + 1 if result.state == DOWN else 0
        if source == "probe" and result.state != DOWN:
            status.breaker_open = False
        status.organization_id = conn.organization_id
        status.save()
        StatusProbe.objects.create(
            connection_id=conn.pk,
            organization_id=conn.organization_id,
            at=now,
            state=result.state,
            source=source,
            latency_ms=result.latency_ms,
            error_category=result.error_category,
            error=result.error,
            listing_hash=result.listing_hash,
        )
        if source == "probe":
            hour = now.replace(minute=0, second=0, microsecond=0)
            bucket, _ = StatusHour.objects.get_or_create(
                connection_id=conn.pk, hour=hour, defaults={"organization_id": conn.organization_id}
            )
            StatusHour.objects.filter(pk=bucket.pk).update(
                probes=F("probes") + 1,
                up=F("up") + (1 if result.state in (UP, DEGRADED) else 0),
                latency_ms_sum=F("latency_ms_sum") + (result.latency_ms or 0.0),
            )
    return status


def prune() -> None:
    """Drop raw rows older than STATUS_RAW_RETENTION_HOURS and buckets older than 35 days."""
    now = timezone.now()
    StatusProbe.objects.filter(at__lt=now - timedelta(hours=settings.STATUS_RAW_RETENTION_HOURS)).delete()
    StatusHour.objects.filter(hour__lt=now - timedelta(hours=HOURS_KEPT)).delete()


# --------------------------------------------------------------------------- passive signals
def passive(event: str, connection_id: int | None, detail: dict[str, Any]) -> None:
    """The breaker of a connection opened (real calls keep failing) or closed (it answers again):
    a transition, written in a thread (never on the event loop)."""
    if connection_id is None or event not in ("opened", "closed"):
        return

    def write() -> None:
        from django.db import close_old_connections

        from omni.registry.models import ServerConnection

        try:
            conn = ServerConnection.objects.filter(pk=connection_id).first()
            if conn is None:
                return
            if event == "opened":
                reason = str(detail.get("reason") or detail.get("kind") or "")
                result = ProbeResult(
                    conn.pk,
                    DOWN,
                    error_category="timeout" if detail.get("kind") == "timeout" else _from_message(reason),
                    error=f"{detail.get('failures', '?')} consecutive failed calls: {reason}"[:300],
                )
            else:
                result = ProbeResult(conn.pk, UP)
            status = record(conn, result, source="passive")
            ServerStatus.objects.filter(pk=status.pk).update(breaker_open=event == "opened")
        except Exception:
            logger.exception("recording the passive status of connection %s failed", connection_id)
        finally:
            close_old_connections()

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        write()
        return
    loop.run_in_executor(None, write)


def _on_breaker(event: str, target: Any, detail: dict[str, Any]) -> None:
    passive(event, target.connection_id, detail)


def connect_signals() -> None:
    """Subscribe to the gateway's breaker (called from the app's ready())."""
    from omni.gateway import breaker

    breaker.subscribe(_on_breaker)


# --------------------------------------------------------------------------- reading
def current_state(connection_id: int) -> str:
    """ "up", "degraded", "down" or "unknown" (never probed)."""
    state = ServerStatus.objects.filter(connection_id=connection_id).values_list("state", flat=True).first()
    return state or UNKNOWN


def down_since(connection_id: int) -> datetime | None:
    """When the connection went down (None unless it is down now)."""
    row = ServerStatus.objects.filter(connection_id=connection_id).values_list("state", "since").first()
    if row is None or row[0] != DOWN:
        return None
    return row[1]


def statuses_for(ctx: Any, connection_ids: list[int]) -> dict[int, ServerStatus]:
    """The current status of the organization's (and global) connections, by connection id."""
    rows = ServerStatus.objects.for_org(ctx).filter(connection_id__in=connection_ids)
    return {row.connection_id: row for row in rows}


def uptime(ctx: Any, connection_id: int) -> dict[str, float | None]:
    """The share of probes that found the server answering, over 24 h, 7 d and 30 d (percent)."""
    now = timezone.now()
    out: dict[str, float | None] = {}
    rows = StatusHour.objects.for_org(ctx).filter(connection_id=connection_id)
    for label, hours in (("24h", 24), ("7d", 24 * 7), ("30d", 24 * 30)):
        totals = rows.filter(hour__gte=now - timedelta(hours=hours)).aggregate(p=Sum("probes"), u=Sum("up"))
        out[label] = round(100.0 * totals["u"] / totals["p"], 2) if totals["p"] else None
    return out


def history(ctx: Any, connection_id: int, hours: int = 24) -> list[StatusProbe]:
    since = timezone.now() - timedelta(hours=hours)
    return list(
        StatusProbe.objects.for_org(ctx)
        .filter(connection_id=connection_id, at__gte=since)
        .order_by("at")[:2000]
    )
