"""API-key authentication for the gateway, with a per-process cache that a revocation empties.

A valid key's ``OrgContext`` is kept for up to ``CACHE_SECONDS`` together with the credentials
version counter (``omni.tenants.changes``) it was checked at. Any key or organization change moves
that counter after commit, in every process (Redis, or the var/ files without it), so revocation
takes effect on the very next request while an unchanged key costs no database query.
"""

from __future__ import annotations

import dataclasses
import time
import uuid

from django.utils import timezone

from omni.gateway.state import read_versions
from omni.tenants.changes import CREDENTIALS_VERSION_KEY
from omni.tenants.context import OrgContext
from omni.tenants.models import hash_api_key
from omni.tenants.services import aauthenticate_api_key

CACHE_SECONDS = 30.0
MAX_ENTRIES = 10_000

_cache: dict[str, tuple[OrgContext, int, float]] = {}


async def authenticate(raw_key: str) -> OrgContext | None:
    """The organization context of ``raw_key``, or None when it is unknown, expired or revoked."""
    (version,) = await read_versions([CREDENTIALS_VERSION_KEY])
    digest = hash_api_key(raw_key)
    entry = _cache.get(digest)
    now = time.monotonic()
    if entry is not None:
        ctx, cached_version, cached_at = entry
        if (
            cached_version == version
            and now - cached_at < CACHE_SECONDS
            and ctx.api_key is not None
            and ctx.api_key.is_active(timezone.now())
        ):
            return dataclasses.replace(ctx, request_id=uuid.uuid4().hex)
        _cache.pop(digest, None)
    ctx = await aauthenticate_api_key(raw_key)
    if ctx is not None:
        if len(_cache) >= MAX_ENTRIES:
            _cache.clear()
        _cache[digest] = (ctx, version, now)
    return ctx


def clear_cache() -> None:
    _cache.clear()
