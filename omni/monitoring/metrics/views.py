"""``GET /metrics``: Prometheus text format, for scrapers that pass ``access.refusal``."""

from __future__ import annotations

import asyncio

from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from omni.monitoring.metrics import access
from omni.monitoring.metrics.scrape import render


def _render_in_thread() -> tuple[bytes, str]:
    try:
        return render()
    finally:
        # A registered collector may have used the ORM on this pool thread: do not leave it open.
        connections.close_all()


@never_cache
@require_GET
async def metrics(request: HttpRequest) -> HttpResponse:
    refused = access.refusal(request)
    if refused is not None:
        return refused
    # Reading the multiprocess files and Redis blocks: on a thread, never on the event loop.
    body, content_type = await asyncio.to_thread(_render_in_thread)
    return HttpResponse(body, content_type=content_type)
