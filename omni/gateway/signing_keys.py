"""Signing keys: which one signs, which ones verify, rotation and retirement, a per-process cache.

Every process keeps the active (non-retired) keys in memory and reloads them when the
``signing_keys`` version counter (``omni.gateway.state``: Redis, or files under ``var/``) moves;
rotation and retirement move it after commit, so a retired key is refused on the next request in
every process. A key id the cache does not know causes at most one reload per second.

When no key exists at all, the first use creates one from ``settings.OMNI_SIGNING_SECRET`` (same
secret on every machine → same key id), so a fresh installation signs and verifies without setup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from omni.dbexec import run_db
from omni.gateway.models import SigningKey
from omni.gateway.state import bump_versions, read_versions

VERSION_KEY = "signing_keys"
UNKNOWN_KEY_RELOAD_SECONDS = 1.0
SYNC_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class KeyMaterial:
    key_id: str
    secret: bytes = field(repr=False)


# --------------------------------------------------------------------------- the database side
def seed_key_id(secret: str) -> str:
    """The key id of the key seeded from ``OMNI_SIGNING_SECRET`` (stable, reveals nothing)."""
    return "seed-" + hmac.new(secret.encode(), b"omni-signing-key-id", hashlib.sha256).hexdigest()[:10]


def _new_key_id() -> str:
    return "k-" + secrets.token_hex(6)


def _notify() -> None:
    transaction.on_commit(lambda: bump_versions([VERSION_KEY]))


def active_keys() -> list[SigningKey]:
    """The keys that verify, newest (the signing key) first."""
    return list(SigningKey.objects.filter(retired_at__isnull=True).order_by("-created_at", "-id"))


def ensure_signing_key() -> SigningKey:
    """The signing key; created when there is none (seeded from OMNI_SIGNING_SECRET when no key
    ever existed, else a fresh random one)."""
    with transaction.atomic():
        keys = active_keys()
        if keys:
            return keys[0]
        seed = getattr(settings, "OMNI_SIGNING_SECRET", "") or ""
        if seed and not SigningKey.objects.exists():
            key, created = SigningKey.objects.get_or_create(
                key_id=seed_key_id(seed), defaults={"secret": seed}
            )
            if key.retired_at is None:
                if created:
                    _notify()
                return key
        key = SigningKey.objects.create(key_id=_new_key_id(), secret=secrets.token_urlsafe(32))
        _notify()
        return key


def rotate(
    *, retire_older_than: timedelta | None = None, now: datetime | None = None
) -> tuple[SigningKey, list[str]]:
    """Create a new signing key; with ``retire_older_than``, also retire the other active keys
    created longer ago than that. Returns the new key and the retired key ids."""
    now = now or timezone.now()
    with transaction.atomic():
        key = SigningKey.objects.create(
            key_id=_new_key_id(), secret=secrets.token_urlsafe(32), created_at=now
        )
        retired: list[str] = []
        if retire_older_than is not None:
            old = SigningKey.objects.filter(retired_at__isnull=True, created_at__lt=now - retire_older_than)
            retired = list(old.exclude(pk=key.pk).values_list("key_id", flat=True))
            SigningKey.objects.filter(key_id__in=retired).update(retired_at=now)
        _notify()
    return key, retired


def retire(key_id: str, *, allow_last: bool = False) -> SigningKey:
    """Retire one key: it no longer verifies anywhere. Refuses the last active key unless
    ``allow_last`` (a new one would then be created on first use)."""
    with transaction.atomic():
        key = SigningKey.objects.select_for_update().get(key_id=key_id)
        if key.retired_at is None:
            others = SigningKey.objects.filter(retired_at__isnull=True).exclude(pk=key.pk)
            if not allow_last and not others.exists():
                raise ValueError(f"{key_id} is the only active signing key: rotate first")
            key.retired_at = timezone.now()
            key.save(update_fields=["retired_at"])
            _notify()
    return key


def load_active_keys() -> tuple[KeyMaterial, dict[str, KeyMaterial]]:
    """(the signing key, every verifying key by id), decrypted; creates the first key if needed."""
    keys = active_keys() or [ensure_signing_key()]
    materials = {key.key_id: KeyMaterial(key.key_id, key.secret_bytes()) for key in keys}
    return materials[keys[0].key_id], materials


# --------------------------------------------------------------------------- the per-process cache
class KeyRing:
    """Active keys of this process, reloaded when the version counter moves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: int | None = None
        self._loaded_at = 0.0
        self._current: KeyMaterial | None = None
        self._keys: dict[str, KeyMaterial] = {}

    def _store(self, version: int | None, loaded: tuple[KeyMaterial, dict[str, KeyMaterial]]) -> None:
        with self._lock:
            self._version = version
            self._current, self._keys = loaded
            self._loaded_at = time.monotonic()

    async def _refresh(self, *, force: bool = False) -> None:
        (version,) = await read_versions([VERSION_KEY])
        if force or self._current is None or version != self._version:
            self._store(version, await run_db(load_active_keys))

    async def current(self) -> KeyMaterial:
        """The key to sign with."""
        await self._refresh()
        assert self._current is not None
        return self._current

    async def get(self, key_id: str) -> KeyMaterial | None:
        """The active key ``key_id``, or None when it is unknown or retired."""
        await self._refresh()
        key = self._keys.get(key_id)
        if key is None and time.monotonic() - self._loaded_at > UNKNOWN_KEY_RELOAD_SECONDS:
            await self._refresh(force=True)
            key = self._keys.get(key_id)
        return key

    def current_sync(self) -> KeyMaterial:
        """For synchronous clients (no version check: reloaded at most every few seconds)."""
        if self._current is None or time.monotonic() - self._loaded_at > SYNC_CACHE_SECONDS:
            self._store(None, load_active_keys())
        assert self._current is not None
        return self._current

    def clear(self) -> None:
        with self._lock:
            self._version, self._current, self._keys, self._loaded_at = None, None, {}, 0.0


keyring = KeyRing()
