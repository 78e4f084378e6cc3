"""Prometheus metrics of the platform, served at ``GET /metrics`` (docs/monitoring.md "Metrics").

Other parts of monitoring add scrape-time metrics with ``register_collector(fn)``: ``fn()`` yields
``prometheus_client`` metric families (``GaugeMetricFamily`` …) each time /metrics is scraped, in the
scraping process, on a worker thread (never on the event loop). It must be quick (a scrape has a
budget, ``METRICS_SCRAPE_BUDGET``); a collector that raises is logged and skipped, the rest of the
scrape is served.

This module imports nothing heavy: ``register_collector`` can be called from any ``AppConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Collector = Callable[[], Iterable[Any]]
_collectors: list[Collector] = []


def register_collector(fn: Collector) -> Collector:
    """Include the families that ``fn()`` yields in every scrape (idempotent; usable as a decorator)."""
    if fn not in _collectors:
        _collectors.append(fn)
    return fn


def unregister_collector(fn: Collector) -> None:
    if fn in _collectors:
        _collectors.remove(fn)


def registered_collectors() -> list[Collector]:
    return list(_collectors)


__all__ = ["register_collector", "registered_collectors", "unregister_collector"]
