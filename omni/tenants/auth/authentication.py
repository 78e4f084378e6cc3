"""``JWTAuthentication`` for DRF with clear 401s: an expired access token says so (and where to
get a new one) with ``code: "token_expired"``; a tampered or malformed one ``token_not_valid``."""

from __future__ import annotations

from typing import Any

from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import ExpiredTokenError, InvalidToken, TokenError
from rest_framework_simplejwt.tokens import AccessToken


class JWTAuthentication(authentication.JWTAuthentication):
    def get_validated_token(self, raw_token: bytes) -> Any:
        try:
            return AccessToken(raw_token)
        except ExpiredTokenError:
            raise InvalidToken(
                "The access token has expired: get a new one from /api/auth/token/refresh/.",
                code="token_expired",
            ) from None
        except TokenError:
            raise InvalidToken(
                "The access token is not valid (malformed, tampered with, or not an access token).",
                code="token_not_valid",
            ) from None
