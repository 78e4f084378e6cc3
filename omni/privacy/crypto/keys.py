"""Master keys, data keys, their cache, rotation and destruction.

Master keys come from ``settings.PRIVACY_MASTER_KEYS`` (a list of 32-byte keys, base64url): the
first wraps new and re-wrapped data keys, every one of them unwraps. A master key is named by its
id, the first 16 hex digits of a SHA-256 over it, which is what ``DataKey.master_key_id`` records.

Unwrapped data keys are cached per process in a bounded LRU (``PRIVACY_KEY_CACHE_SIZE`` entries,
each kept at most ``PRIVACY_KEY_CACHE_SECONDS``), so a key destroyed by another process stops
decrypting here within that time; the process that destroys it forgets it at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone

from omni.privacy.crypto.errors import DataKeyDestroyed, DecryptionError, MasterKeyError

KEY_BYTES = 32
NONCE_BYTES = 12
WRAP_AAD = b"omni-data-key:"


# --------------------------------------------------------------------------- master keys
@dataclass(frozen=True)
class MasterKey:
    id: str
    key: bytes


def decode_master_key(text: str) -> bytes:
    """A master key from its base64url text (32 bytes); anything else is a configuration error."""
    try:
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured("PRIVACY_MASTER_KEYS: a key is not base64url text") from None
    if len(raw) != KEY_BYTES:
        raise ImproperlyConfigured(f"PRIVACY_MASTER_KEYS: a key must be {KEY_BYTES} bytes, got {len(raw)}")
    return raw


def new_master_key() -> str:
    """A fresh master key as base64url text (what ``rotate_field_key --new-key`` prints)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode().rstrip("=")


def master_key_id(raw: bytes) -> str:
    return hashlib.sha256(b"omni-master-key:" + raw).hexdigest()[:16]


def master_keys() -> list[MasterKey]:
    """The configured master keys, the current one first."""
    texts = settings.PRIVACY_MASTER_KEYS
    if not texts:
        raise ImproperlyConfigured("PRIVACY_MASTER_KEYS is empty: no master key to wrap data keys with")
    return [MasterKey(master_key_id(raw), raw) for raw in (decode_master_key(t) for t in texts)]


def wrap(raw_key: bytes, key_id: str, master: MasterKey) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(master.key).encrypt(nonce, raw_key, WRAP_AAD + key_id.encode())


def unwrap(wrapped: bytes, key_id: str, master_id: str) -> bytes:
    """The raw data key, trying the master key it was wrapped with first, then every other one."""
    keys = master_keys()
    keys.sort(key=lambda m: m.id != master_id)
    wrapped = bytes(wrapped)
    for master in keys:
        try:
            return AESGCM(master.key).decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], WRAP_AAD + key_id.encode()
            )
        except InvalidTag:
            continue
    raise MasterKeyError(
        f"data key {key_id} is wrapped by master key {master_id}, and no key in PRIVACY_MASTER_KEYS "
        f"({', '.join(m.id for m in keys)}) unwraps it: the master key is wrong or was retired too early"
    )


# --------------------------------------------------------------------------- the cache
class _KeyCache:
    """A bounded LRU of unwrapped data keys with an age limit (thread-safe)."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key_id: str) -> bytes | None:
        with self._lock:
            item = self._items.get(key_id)
            if item is None:
                return None
            if time.monotonic() - item[0] > settings.PRIVACY_KEY_CACHE_SECONDS:
                del self._items[key_id]
                return None
            self._items.move_to_end(key_id)
            return item[1]

    def put(self, key_id: str, raw: bytes) -> None:
        with self._lock:
            self._items[key_id] = (time.monotonic(), raw)
            self._items.move_to_end(key_id)
            while len(self._items) > max(settings.PRIVACY_KEY_CACHE_SIZE, 1):
                self._items.popitem(last=False)

    def forget(self, key_id: str | None = None) -> None:
        with self._lock:
            if key_id is None:
                self._items.clear()
            else:
                self._items.pop(key_id, None)

    def __len__(self) -> int:
        return len(self._items)


cache = _KeyCache()
# Organization id (0: the platform) -> its live key id, so writes need no query either.
_live: dict[int, tuple[float, str]] = {}
_live_lock = threading.Lock()


def _model():
    return apps.get_model("privacy", "DataKey")


def forget_all() -> None:
    """Drop every cached key (tests, and after a master key change in this process)."""
    cache.forget()
    with _live_lock:
        _live.clear()


# --------------------------------------------------------------------------- data keys
def key_by_id(key_id: str) -> bytes:
    """The raw data key ``key_id`` (from the cache or the database); loud errors otherwise."""
    raw = cache.get(key_id)
    if raw is not None:
        return raw
    row = _model().objects.filter(key_id=key_id).first()
    if row is None:
        raise DecryptionError(f"data key {key_id} does not exist in this database")
    if row.destroyed_at is not None:
        raise DataKeyDestroyed(
            f"data key {key_id} was destroyed on {row.destroyed_at:%Y-%m-%d %H:%M} UTC: this data is erased"
        )
    raw = unwrap(row.wrapped_key, key_id, row.master_key_id)
    cache.put(key_id, raw)
    return raw


def cached_live_key(org_id: int | None) -> tuple[str, bytes] | None:
    """The live key of an organization if this process has it in memory (no query), else None."""
    with _live_lock:
        item = _live.get(org_id or 0)
    if item is None or time.monotonic() - item[0] > settings.PRIVACY_KEY_CACHE_SECONDS:
        return None
    raw = cache.get(item[1])
    return (item[1], raw) if raw is not None else None


def live_key(org_id: int | None) -> tuple[str, bytes]:
    """The live data key of an organization (``None``: the platform key), created on first use."""
    slot = org_id or 0
    with _live_lock:
        item = _live.get(slot)
    if item is not None and time.monotonic() - item[0] <= settings.PRIVACY_KEY_CACHE_SECONDS:
        try:
            return item[1], key_by_id(item[1])
        except DataKeyDestroyed:
            pass
    model = _model()
    row = model.objects.filter(organization_id=org_id, destroyed_at__isnull=True).first()
    if row is None:
        row = _create(org_id)
    raw = cache.get(row.key_id) or unwrap(row.wrapped_key, row.key_id, row.master_key_id)
    cache.put(row.key_id, raw)
    with _live_lock:
        _live[slot] = (time.monotonic(), row.key_id)
    return row.key_id, raw


def _create(org_id: int | None):
    model = _model()
    master = master_keys()[0]
    raw = secrets.token_bytes(KEY_BYTES)
    key_id = secrets.token_hex(8)
    try:
        with transaction.atomic():
            return model.objects.create(
                key_id=key_id,
                organization_id=org_id,
                wrapped_key=wrap(raw, key_id, master),
                master_key_id=master.id,
            )
    except IntegrityError:
        # Another process created the organization's key first: use that one.
        row = model.objects.filter(organization_id=org_id, destroyed_at__isnull=True).first()
        if row is None:
            raise
        return row


def rewrap_all(*, batch: int = 200) -> dict[str, int]:
    """Re-wrap every live data key with the current master key (``rotate_field_key``).

    Each key is re-wrapped in its own short transaction with the row locked, so readers and
    writers carry on meanwhile (the data itself is untouched: only the 32-byte keys change).
    Returns counts: ``rewrapped``, ``already`` (already on the current key)."""
    model = _model()
    current = master_keys()[0]
    counts = {"rewrapped": 0, "already": 0}
    last = 0
    while True:
        ids = list(
            model.objects.filter(destroyed_at__isnull=True, pk__gt=last)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return counts
        for pk in ids:
            with transaction.atomic():
                row = model.objects.select_for_update().filter(pk=pk, destroyed_at__isnull=True).first()
                if row is None:
                    continue
                if row.master_key_id == current.id:
                    counts["already"] += 1
                    continue
                raw = unwrap(row.wrapped_key, row.key_id, row.master_key_id)
                row.wrapped_key = wrap(raw, row.key_id, current)
                row.master_key_id = current.id
                row.rewrapped_at = timezone.now()
                row.save(update_fields=["wrapped_key", "master_key_id", "rewrapped_at"])
                counts["rewrapped"] += 1
        last = ids[-1]


def dependents(master_id: str) -> int:
    """How many live data keys are still wrapped by master key ``master_id`` (0: it can be retired)."""
    return _model().objects.filter(destroyed_at__isnull=True, master_key_id=master_id).count()


def destroy_org_keys(org_id: int | None) -> list[str]:
    """Crypto-shred: destroy every data key of an organization; returns the destroyed key ids.

    The wrapped key bytes are overwritten, so no master key can bring them back; the rows stay so
    reads say "destroyed". The next write for the organization creates a new key."""
    model = _model()
    with transaction.atomic():
        rows = list(
            model.objects.select_for_update().filter(organization_id=org_id, destroyed_at__isnull=True)
        )
        for row in rows:
            row.wrapped_key = b""
            row.destroyed_at = timezone.now()
            row.save(update_fields=["wrapped_key", "destroyed_at"])
    for row in rows:
        cache.forget(row.key_id)
    with _live_lock:
        _live.pop(org_id or 0, None)
    return [row.key_id for row in rows]
