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


def api_key_ended(key_pk: object) -> None:
    """An API key was revoked or deleted: after commit, end every MCP session it opened (their
    GET/SSE streams close at once; later requests with their ids answer 404)."""

    def end() -> None:
        from omni.gateway.sessions import get_backend

        get_backend().end_credential_sessions(f"key:{key_pk}")

    transaction.on_commit(end)
