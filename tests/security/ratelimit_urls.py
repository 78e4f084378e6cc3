"""Views decorated with ``omni.security.ratelimit.ratelimit`` (sync, async, DRF), for its tests."""

from django.http import HttpResponse, JsonResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from omni.security.ratelimit import ratelimit
from omni.urls import urlpatterns as project_urlpatterns


@ratelimit("login_per_minute", key="ip")
def sync_view(request):
    return HttpResponse("sync ok")


@ratelimit("login_per_minute")
async def async_view(request):
    return JsonResponse({"async": "ok"})


class DrfView(APIView):
    permission_classes = [AllowAny]
    ratelimit_exempt = True  # only the decorator counts here

    @ratelimit("login_per_minute", key="ip")
    def get(self, request):
        return Response({"drf": "ok"})


urlpatterns = [
    path("rl/sync/", sync_view),
    path("rl/async/", async_view),
    path("api/rl/drf/", DrfView.as_view()),
    *project_urlpatterns,
]
