"""Telling the gateway that credentials changed, so its cached authentications are dropped."""

from __future__ import annotations

from django.db import transaction

CREDENTIALS_VERSION_KEY = "credentials"


def credentials_changed() -> None:
    """An API key or an organization changed (created, revoked, expired, deleted): after commit,
    move the version counter every gateway process checks before trusting a cached key."""

    def bump() -> None:
        from omni.gateway.state import bump_versions

        bump_versions([CREDENTIALS_VERSION_KEY])

    transaction.on_commit(bump)
