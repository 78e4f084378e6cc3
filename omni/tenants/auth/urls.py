"""``/api/auth/``: JWT obtain, refresh and logout (included from ``omni/urls.py``)."""

from django.urls import path

from omni.tenants.auth import api

app_name = "auth_api"

urlpatterns = [
    path("token/", api.TokenObtainView.as_view(), name="token"),
    path("token/refresh/", api.TokenRefreshView.as_view(), name="token_refresh"),
    path("logout/", api.LogoutView.as_view(), name="logout"),
]
