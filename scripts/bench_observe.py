"""Micro-benchmark: the cost of request observation per request, in process (no network).

    .venv/bin/python scripts/bench_observe.py

Times ``observe.emit`` with and without the usage counters subscribed, and the gateway's
observation middleware (``omni/gateway/observing.py``) around a handler that returns at once,
with the usage counters behind it. Prints microseconds per request (best of 5); asserts nothing.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omni.settings")
os.environ.setdefault("OMNI_VAR_DIR", tempfile.mkdtemp(prefix="omni-bench-observe-"))


def main() -> None:
    import django

    django.setup()
    from omni.gateway import observe, observing
    from omni.monitoring.usage import counters

    record = observe.RequestRecord(
        org_id=1,
        org_slug="bench",
        api_key_id="3f2b6f3e-0000-0000-0000-000000000000",
        method="tools/call",
        target="utilities__calculate",
        server="utilities",
        outcome="ok",
        duration=0.0042,
        transport="single",
    )
    n = 200_000
    for label, subscribers in (("emit, no subscriber", []), ("emit, usage counters", [counters.record])):
        observe._subscribers[:] = subscribers
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(n):
                observe.emit(record)
            best = min(best, (time.perf_counter() - started) / n * 1e6)
        print(f"{label:40} {best:6.2f} µs/request")

    ctx = SimpleNamespace(
        request_id=1, method="tools/call", params={"name": "utilities__calculate", "arguments": {}}
    )
    result = {"content": [], "isError": False}
    middleware = observing.ObserveMiddleware()

    async def call_next(_ctx):  # noqa: ANN202
        return result

    async def run(count: int, arrived: bool) -> float:
        if arrived:
            observing.mark_arrival("single")
        started = time.perf_counter()
        for _ in range(count):
            await middleware(ctx, call_next)
        return (time.perf_counter() - started) / count * 1e6

    async def middleware_figures() -> None:
        observe._subscribers[:] = [counters.record]
        for label, arrived in (
            ("middleware, not observed (in-process)", False),
            ("middleware + usage counters", True),
        ):
            best = min([await asyncio.create_task(run(n // 2, arrived)) for _ in range(5)])
            print(f"{label:40} {best:6.2f} µs/request")

    asyncio.run(middleware_figures())
    counters.reset()


if __name__ == "__main__":
    main()
