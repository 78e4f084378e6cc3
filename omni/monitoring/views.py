"""``/healthz`` (liveness) and ``/readyz`` (readiness). Both are exempt from rate limits
(``RATELIMIT_EXEMPT_PATHS``) and from the HTTPS redirect, and log only when readiness changes."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from omni.monitoring.readiness import failing, run_checks


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process is up and answering. Checks nothing else, on purpose: a load balancer
    that restarts processes on a failing database would only add restarts to the outage."""
    return JsonResponse({"status": "ok"})


@never_cache
async def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 with every check and its latency, or 503 naming the failing checks."""
    checks = await run_checks()
    bad = failing(checks)
    body = {
        "status": "unavailable" if bad else "ready",
        "checks": {check.name: check.as_json() for check in checks},
    }
    if bad:
        body["failing"] = bad
    response = JsonResponse(body, status=503 if bad else 200)
    # Not one django.request ERROR line per probe: readiness.py logs when readiness changes.
    response._has_been_logged = True
    return response
