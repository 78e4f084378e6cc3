"""One scrape of ``/metrics``: the recorded metrics (summed over every process's files in
multiprocess mode) plus the families read at scrape time — sessions and streams open, Celery queue
depth, and every collector registered with ``register_collector``.

Scrape-time reads of Redis use a client of their own whose socket timeouts are the scrape budget
(``METRICS_SCRAPE_BUDGET``), and stop when the budget is spent: a scrape never hangs on Redis.
Failures become ``omni_metrics_scrape_errors`` samples and a log line, never a failed scrape.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from omni.monitoring.metrics import registered_collectors

logger = logging.getLogger(__name__)

_redis: dict[str, Any] = {}


def _broker_client() -> Any:
    """A Redis client for the scrape-time reads, timeouts bounded by the budget."""
    url = settings.REDIS_URL
    client = _redis.get(url)
    if client is None:
        import redis

        budget = settings.METRICS_SCRAPE_BUDGET
        client = redis.Redis.from_url(url, socket_timeout=budget, socket_connect_timeout=budget)
        _redis[url] = client
    return client


class ScrapeTimeCollector:
    """Reads the gateway's shared state when Prometheus scrapes (nothing kept per process)."""

    def describe(self) -> list[Any]:
        # Nothing to declare in advance: without this, registering would run a whole collection.
        return []

    def collect(self) -> Iterator[Any]:
        deadline = time.monotonic() + settings.METRICS_SCRAPE_BUDGET
        errors = GaugeMetricFamily(
            "omni_metrics_scrape_errors",
            "Scrape-time sources that failed or ran out of budget in this scrape (1) or not (0)",
            labels=["source"],
        )
        for name, source in (("sessions", self._sessions), ("celery_queues", self._queues)):
            try:
                yield from source(deadline)
                errors.add_metric([name], 0)
            except Exception as exc:
                logger.warning("/metrics: %s not read: %r", name, exc)
                errors.add_metric([name], 1)
        for fn in registered_collectors():
            name = getattr(fn, "__qualname__", repr(fn))
            try:
                yield from list(fn())
                errors.add_metric([name], 0)
            except Exception:
                logger.exception("/metrics: collector %s failed", name)
                errors.add_metric([name], 1)
        yield errors

    @staticmethod
    def _sessions(deadline: float) -> Iterator[Any]:
        from omni.gateway.sessions import get_backend

        sessions, streams = get_backend().open_totals(deadline)
        yield GaugeMetricFamily(
            "omni_gateway_sessions_open",
            "MCP sessions open (handshake revisions) in all processes, until the sweeper drops expired ones",
            value=sessions,
        )
        yield GaugeMetricFamily(
            "omni_gateway_streams_open",
            "Long-lived MCP streams open (GET, legacy SSE and listen streams), all processes",
            value=streams,
        )

    @staticmethod
    def _queues(deadline: float) -> Iterator[Any]:
        family = GaugeMetricFamily(
            "omni_celery_queue_depth",
            "Tasks waiting in a Celery queue on the broker (LLEN); 0 in the embedded default (eager tasks)",
            labels=["queue"],
        )
        queues = settings.METRICS_CELERY_QUEUES
        if settings.REDIS_URL:
            with _broker_client().pipeline(transaction=False) as pipe:
                for queue in queues:
                    pipe.llen(queue)
                depths = pipe.execute()
        else:
            depths = [0] * len(queues)
        for queue, depth in zip(queues, depths, strict=True):
            family.add_metric([queue], int(depth))
        yield family


_scrape_collector = ScrapeTimeCollector()
_local_registered = False


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def render() -> tuple[bytes, str]:
    """The body and content type of one scrape. Blocking (files, Redis): call it off the loop."""
    global _local_registered
    if multiprocess_dir():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(_scrape_collector)
    else:
        registry = REGISTRY
        if not _local_registered:
            registry.register(_scrape_collector)
            _local_registered = True
    return generate_latest(registry), CONTENT_TYPE_LATEST
