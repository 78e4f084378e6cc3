"""Serializers of the JWT endpoints: every input is checked here (types, sizes) before use."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework import serializers
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError
from rest_framework_simplejwt.serializers import PasswordField, TokenObtainPairSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

# A JWT of ours is a few hundred bytes; passwords are hashed, so their size is bounded too.
MAX_TOKEN_LENGTH = 4096
MAX_PASSWORD_LENGTH = 4096
TOKEN_TYPE = "Bearer"  # noqa: S105 (the token type, not a secret)


class TokenObtainSerializer(TokenObtainPairSerializer):
    """username + password → access and refresh token (through ``authenticate``: lockout applies)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        username_max = get_user_model()._meta.get_field(self.username_field).max_length
        self.fields[self.username_field] = serializers.CharField(write_only=True, max_length=username_max)
        self.fields["password"] = PasswordField(max_length=MAX_PASSWORD_LENGTH)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        data = super().validate(attrs)
        data["token_type"] = TOKEN_TYPE
        data["access_expires_in"] = int(api_settings.ACCESS_TOKEN_LIFETIME.total_seconds())
        return data


def _refused(detail: str, code: str = "token_not_valid") -> InvalidToken:
    return InvalidToken(detail, code=code)


class RefreshSerializer(serializers.Serializer):
    """A refresh token → a new access token and a new refresh token; the old one is blacklisted.

    Single use even under concurrency: the outstanding-token row is locked while it is checked and
    blacklisted, so two requests with the same refresh token cannot both succeed.
    """

    refresh = serializers.CharField(max_length=MAX_TOKEN_LENGTH, write_only=True, trim_whitespace=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            old = RefreshToken(attrs["refresh"])  # signature, expiry, blacklist
        except TokenError as exc:
            raise _refused(f"The refresh token is not valid: {exc.args[0]}") from exc
        with transaction.atomic():
            outstanding = OutstandingToken.objects.select_for_update().filter(jti=old.get("jti")).first()
            if outstanding is None:
                raise _refused("The refresh token is not valid: it was not issued here.")
            if BlacklistedToken.objects.filter(token=outstanding).exists():
                raise _refused("The refresh token is not valid: Token is blacklisted")
            user = _active_user(old)
            BlacklistedToken.objects.create(token=outstanding)
        new = RefreshToken.for_user(user)
        return {
            "access": str(new.access_token),
            "refresh": str(new),
            "token_type": TOKEN_TYPE,
            "access_expires_in": int(api_settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
        }


def _active_user(token: RefreshToken) -> Any:
    user_id = token.get(api_settings.USER_ID_CLAIM)
    user = get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: user_id}).first()
    if user is None or not api_settings.USER_AUTHENTICATION_RULE(user):
        raise AuthenticationFailed("No active account found for the given token.", code="no_active_account")
    if api_settings.CHECK_REVOKE_TOKEN and token.get(
        api_settings.REVOKE_TOKEN_CLAIM
    ) != get_md5_hash_password(user.password):
        raise AuthenticationFailed("The user's password has been changed.", code="password_changed")
    return user


class LogoutSerializer(serializers.Serializer):
    """Blacklist a refresh token; ``everywhere`` blacklists every refresh token of its user."""

    refresh = serializers.CharField(max_length=MAX_TOKEN_LENGTH, write_only=True, trim_whitespace=True)
    everywhere = serializers.BooleanField(default=False, write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            token = RefreshToken(attrs["refresh"])
        except TokenError as exc:
            raise _refused(f"The refresh token is not valid: {exc.args[0]}") from exc
        attrs["token"] = token
        return attrs

    def save(self, **kwargs: Any) -> int:
        """Blacklist; returns how many refresh tokens were revoked."""
        from omni.tenants.auth.tokens import revoke_user_tokens

        token: RefreshToken = self.validated_data["token"]
        if self.validated_data["everywhere"]:
            return revoke_user_tokens(token.get(api_settings.USER_ID_CLAIM))
        token.blacklist()
        return 1


# --------------------------------------------------------------------------- responses (OpenAPI)
class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="Send as 'Authorization: Bearer <access>'.")
    refresh = serializers.CharField(help_text="Single use: /api/auth/token/refresh/ returns a new one.")
    token_type = serializers.CharField(help_text="Always 'Bearer'.")
    access_expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")


class LoggedOutSerializer(serializers.Serializer):
    detail = serializers.CharField()
    revoked = serializers.IntegerField(help_text="How many refresh tokens were blacklisted.")


class AuthErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField(required=False, help_text="no_active_account, token_expired, locked_out, …")
    retry_after = serializers.IntegerField(required=False, help_text="With 429: seconds to wait.")
