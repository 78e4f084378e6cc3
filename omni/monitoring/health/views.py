"""The system health page (``/ops/health/``) and its JSON form (``/ops/health.json``), for platform
operators (superusers) only. A read: nothing is audited, nothing is written."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from omni.monitoring.health.snapshot import collect


def _overall(body: dict[str, Any]) -> str:
    """``ok``, or ``attention`` when a check fails, a process is late/gone, beat is late or never
    ticked, or the database/Redis does not answer."""
    if any(not check.get("ok") for check in body["readiness"]):
        return "attention"
    if not body["database"].get("ok") or not body["redis"].get("ok"):
        return "attention"
    if body["beat"]["state"] != "ok":
        return "attention"
    if any(p["state"] != "ok" for group in body["processes"].values() for p in group):
        return "attention"
    return "ok"


@never_cache
def health_page(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not request.user.is_superuser:
        # Like every platform-operator page: others learn nothing, not even that it exists.
        raise Http404("No such page.")
    body = collect()
    body["overall"] = _overall(body)
    return render(request, "monitoring/health/page.html", {"health": body})


class IsSuperuser(BasePermission):
    message = "The system health page is for platform operators (superusers)."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.user and request.user.is_authenticated and not request.user.is_superuser:
            raise NotFound()  # as the page: a signed-in non-operator learns nothing
        return bool(request.user and request.user.is_authenticated and request.user.is_superuser)


@extend_schema(exclude=True)  # an operator's endpoint (docs/operations.md), not the public REST API
class HealthJson(APIView):
    """``GET /ops/health.json``: the page's data for scripts (session, token or JWT of a superuser)."""

    permission_classes = [IsSuperuser]

    def get(self, request: Request) -> Response:
        body = collect()
        body["overall"] = _overall(body)
        response = Response(body)
        response["Cache-Control"] = "no-store"
        return response
