"""Signing keys: seeded on first use, encrypted at rest, rotated and retired (commands too)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from omni.gateway.models import SigningKey, SigningKeyUnreadable
from omni.gateway.signing_keys import (
    KeyRing,
    ensure_signing_key,
    load_active_keys,
    retire,
    rotate,
    seed_key_id,
)


@pytest.fixture
def no_keys(db):
    """Start from an empty key table (inside the test's transaction: rolled back afterwards)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM gateway_signingkey")


def test_the_first_key_is_seeded_from_the_configured_secret(no_keys, settings):
    settings.OMNI_SIGNING_SECRET = "seed-secret-for-tests"
    key = ensure_signing_key()
    assert key.key_id == seed_key_id("seed-secret-for-tests") and key.key_id.startswith("seed-")
    assert key.secret_bytes() == b"seed-secret-for-tests"
    assert ensure_signing_key().pk == key.pk  # idempotent
    # Once every key is retired, a fresh random key is made (not the retired seed again).
    retire(key.key_id, allow_last=True)
    fresh = ensure_signing_key()
    assert fresh.key_id.startswith("k-") and fresh.secret_bytes() != b"seed-secret-for-tests"


def test_secrets_are_encrypted_at_rest_and_a_wrong_key_is_refused(no_keys, settings):
    key = ensure_signing_key()
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM gateway_signingkey WHERE id = %s", [key.pk])
        stored = cursor.fetchone()[0]
    assert key.secret_bytes().decode() not in stored and stored.startswith("gAAAAA")
    # Stored under another FIELD_ENCRYPTION_KEY: the field hands back ciphertext; we refuse it.
    foreign = Fernet(Fernet.generate_key()).encrypt(b"x" * 43).decode()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE gateway_signingkey SET secret = %s WHERE id = %s", [foreign, key.pk])
    with pytest.raises(SigningKeyUnreadable, match="FIELD_ENCRYPTION_KEY"):
        SigningKey.objects.get(pk=key.pk).secret_bytes()


def test_rotation_keeps_old_keys_valid_until_retired(no_keys):
    old = ensure_signing_key()
    new, retired = rotate()
    assert retired == [] and new.key_id != old.key_id
    signing, verifying = load_active_keys()
    assert signing.key_id == new.key_id and set(verifying) == {old.key_id, new.key_id}
    retire(old.key_id)
    assert SigningKey.objects.get(pk=old.pk).is_retired
    with pytest.raises(ValueError, match="only active"):
        retire(new.key_id)
    later, retired = rotate(retire_older_than=timedelta(0), now=timezone.now() + timedelta(seconds=1))
    assert retired == [new.key_id]
    assert list(SigningKey.objects.filter(retired_at__isnull=True).values_list("key_id", flat=True)) == [
        later.key_id
    ]


async def test_the_key_ring_follows_rotation_and_retirement(committed):
    """Against committed rows and the version counter in Redis, like two processes would."""
    from asgiref.sync import sync_to_async

    ring = KeyRing()
    first = await ring.current()
    new, _ = await sync_to_async(rotate)()
    assert (await ring.current()).key_id == new.key_id  # the version moved: reloaded
    assert (await ring.get(first.key_id)) is not None  # the old key still verifies
    await sync_to_async(retire)(first.key_id)
    assert await ring.get(first.key_id) is None
    assert await ring.get("k-never-existed") is None


def test_commands(no_keys):
    out = io.StringIO()
    call_command("rotate_signing_key", stdout=out)
    first = SigningKey.objects.get()
    assert f"New signing key {first.key_id}." in out.getvalue() and "(signs)" in out.getvalue()
    assert first.secret not in out.getvalue()
    out = io.StringIO()
    call_command("rotate_signing_key", "--retire-older-than", "0s", stdout=out)
    assert f"Retired {first.key_id}." in out.getvalue()
    out = io.StringIO()
    call_command("rotate_signing_key", "--list", stdout=out)
    assert SigningKey.objects.count() == 2 and "retired" in out.getvalue()
    with pytest.raises(CommandError, match="use a number"):
        call_command("rotate_signing_key", "--retire-older-than", "soon")
    current = SigningKey.objects.filter(retired_at__isnull=True).get()
    with pytest.raises(CommandError, match="only active signing key"):
        call_command("retire_signing_key", current.key_id)
    with pytest.raises(CommandError, match="no signing key"):
        call_command("retire_signing_key", "k-nope")
    out = io.StringIO()
    call_command("retire_signing_key", current.key_id, "--force", stdout=out)
    assert f"Retired {current.key_id}" in out.getvalue()
