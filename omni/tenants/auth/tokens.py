"""Revoking a user's JWTs: every outstanding refresh token goes on the blacklist.

Access tokens are not stored; they stay valid until they expire (``JWT_ACCESS_MINUTES``, 5 by
default), except that a password change invalidates them at once (``CHECK_REVOKE_TOKEN``).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken


def revoke_user_tokens(user_id: Any) -> int:
    """Blacklist every unexpired refresh token of the user ``user_id``; returns how many."""
    pending = OutstandingToken.objects.filter(
        user_id=user_id, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    tokens = list(pending)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in tokens], ignore_conflicts=True
    )
    return len(tokens)
