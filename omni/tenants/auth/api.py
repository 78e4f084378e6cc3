"""JWT endpoints of the REST API (``/api/auth/...``): obtain, refresh with rotation, logout.

* ``POST /api/auth/token/`` ``{"username", "password"}`` → ``{"access", "refresh", ...}``; a
  locked-out username or IP gets 429 with ``Retry-After`` (the lockout of the web log-in).
* ``POST /api/auth/token/refresh/`` ``{"refresh"}`` → a new pair; the old refresh token is
  blacklisted, presenting it again is a 401.
* ``POST /api/auth/logout/`` ``{"refresh", "everywhere": false}`` → the refresh token (or every
  refresh token of its user) is blacklisted.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt import exceptions as jwt_exceptions
from rest_framework_simplejwt.views import TokenViewBase

from omni.tenants.auth import lockout
from omni.tenants.auth.serializers import (
    AuthErrorSerializer,
    LoggedOutSerializer,
    LogoutSerializer,
    RefreshSerializer,
    TokenObtainSerializer,
    TokenPairSerializer,
)

BAD_INPUT = OpenApiResponse(description="Invalid body: field errors, keyed like the body.")
THROTTLED = OpenApiResponse(AuthErrorSerializer, description="Rate limited (Retry-After header).")


def _locked_response(active: lockout.Lockout) -> Response:
    return Response(
        {"detail": active.message, "code": "locked_out", "retry_after": active.retry_after},
        status=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(active.retry_after)},
    )


def _username(data: Any) -> str | None:
    value = data.get("username") if hasattr(data, "get") else None
    return value if isinstance(value, str) else None


class TokenObtainView(TokenViewBase):
    serializer_class = TokenObtainSerializer
    ratelimit_scope = "login"  # login_per_minute per IP (RateLimitThrottle), on top of the lockout

    @extend_schema(
        operation_id="auth_token",
        summary="Log in: username and password for an access and a refresh token",
        request=TokenObtainSerializer,
        responses={
            200: TokenPairSerializer,
            400: BAD_INPUT,
            401: OpenApiResponse(AuthErrorSerializer, description="Wrong username or password."),
            429: OpenApiResponse(
                AuthErrorSerializer, description="Locked out after failed log-ins, or rate limited."
            ),
        },
        tags=["auth"],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        username = _username(request.data)
        active = lockout.check(request, username)
        if active is not None:
            lockout.record_refusal(request, username, active)
            return _locked_response(active)
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except AuthenticationFailed as exc:
            started = getattr(request, "omni_started_lockout", None) or getattr(request, "omni_lockout", None)
            if started is not None:
                return _locked_response(started)
            # The same 401 with a machine-readable code, like every other JWT error.
            raise jwt_exceptions.AuthenticationFailed(str(exc.detail), code="no_active_account") from None
        lockout.reset(request, username)
        return Response(serializer.validated_data, status=status.HTTP_200_OK)


class TokenRefreshView(TokenViewBase):
    serializer_class = RefreshSerializer

    @extend_schema(
        operation_id="auth_token_refresh",
        summary="A new access and refresh token; the refresh token sent is spent",
        request=RefreshSerializer,
        responses={
            200: TokenPairSerializer,
            400: BAD_INPUT,
            401: OpenApiResponse(AuthErrorSerializer, description="Expired, invalid or spent token."),
            429: THROTTLED,
        },
        tags=["auth"],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


class LogoutView(TokenViewBase):
    serializer_class = LogoutSerializer

    @extend_schema(
        operation_id="auth_logout",
        summary="Blacklist a refresh token (or, with everywhere, all of its user's)",
        request=LogoutSerializer,
        responses={
            200: LoggedOutSerializer,
            400: BAD_INPUT,
            401: OpenApiResponse(AuthErrorSerializer, description="Expired, invalid or spent token."),
            429: THROTTLED,
        },
        tags=["auth"],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        revoked = serializer.save()
        return Response({"detail": "Logged out.", "revoked": revoked}, status=status.HTTP_200_OK)
