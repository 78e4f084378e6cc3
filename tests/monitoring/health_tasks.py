"""Tiny Celery tasks for the in-process scheduler tests (tests/monitoring/test_health.py)."""

from __future__ import annotations

import threading

from celery import shared_task

calls = {"count": 0, "fail": 0}
lock = threading.Lock()


@shared_task(name="tests.monitoring.health_tasks.count")
def count() -> int:
    with lock:
        calls["count"] += 1
        return calls["count"]


@shared_task(name="tests.monitoring.health_tasks.fail")
def fail() -> None:
    with lock:
        calls["fail"] += 1
    raise RuntimeError("this scheduled task always fails")
