"""A clear page (or JSON body) for values that cannot be decrypted, instead of a bare 500."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from omni.privacy.crypto.errors import DataKeyDestroyed, DecryptionError

logger = logging.getLogger(__name__)


class DecryptionErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DecryptionError):
            return None
        erased = isinstance(exception, DataKeyDestroyed)
        if not erased:
            logger.error("decryption failed on %s: %s", request.path, exception)
        status = 410 if erased else 500
        heading = "[erased]" if erased else "Stored data cannot be decrypted"
        if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
            return JsonResponse(
                {"error": "erased" if erased else "decryption_failed", "detail": str(exception)},
                status=status,
            )
        return render(
            request,
            "privacy/crypto/unreadable.html",
            {"heading": heading, "message": str(exception), "erased": erased},
            status=status,
        )
