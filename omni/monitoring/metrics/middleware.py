"""Django's own request metrics: count and latency by view name, method and status.

The view label is the URL pattern's name (``namespace:name``), ``<unresolved>`` for a request no
pattern matched (404 by the resolver) — never the raw path, so the label set stays bounded.
Methods outside the standard set are counted as ``other``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from omni.monitoring.metrics import instruments

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _view(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "<unresolved>"
    return match.view_name or match.func.__qualname__


def _record(request: HttpRequest, status: int, started: float) -> None:
    method = request.method if request.method in METHODS else "other"
    view = _view(request)
    instruments.django_requests.labels(view, method, str(status)).inc()
    instruments.django_request_duration.labels(view, method).observe(time.perf_counter() - started)


class RequestMetricsMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        started = time.perf_counter()
        response: HttpResponse = self.get_response(request)
        _record(request, response.status_code, started)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response: HttpResponse = await self.get_response(request)
        _record(request, response.status_code, started)
        return response
