import hashlib
import re
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.utils import timezone

from omni.tenants.models import ApiKey
from omni.tenants.permissions import API_KEY_SCOPES, TOOLS_CALL, can
from omni.tenants.services import (
    aauthenticate_api_key,
    authenticate_api_key,
    create_api_key,
    revoke_api_key,
)
from tests.factories import ApiKeyFactory, OrganizationFactory

KEY_FORMAT = re.compile(r"omni_[a-z0-9]{8}_[A-Za-z0-9_-]{43}")


@pytest.fixture
def org(db):
    return OrganizationFactory()


def test_create_returns_raw_key_once_and_stores_only_its_hash(org):
    key, raw = create_api_key(org, "ci")
    assert KEY_FORMAT.fullmatch(raw)
    assert raw.startswith(key.prefix + "_")
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    stored = ApiKey.objects.for_org(org).values().get(pk=key.pk)
    assert all(raw not in str(value) for value in stored.values())
    assert sorted(key.scopes) == sorted(API_KEY_SCOPES)


def test_valid_key_authenticates_to_its_org(org):
    key, raw = ApiKeyFactory.create_with_raw(organization=org, scopes=["tools:call"])
    ctx = authenticate_api_key(raw)
    assert ctx is not None
    assert ctx.organization == org
    assert ctx.api_key == key
    assert ctx.scopes == frozenset({"tools:call"})
    assert ctx.principal == f"key:{key.prefix}"
    assert ctx.credential_id == f"key:{key.pk}"
    assert can(ctx, TOOLS_CALL)
    assert not can(ctx, "prompts:read")
    assert not can(ctx, "keys:manage")


def test_async_twin(org):
    _key, raw = ApiKeyFactory.create_with_raw(organization=org)
    ctx = async_to_sync(aauthenticate_api_key)(raw)
    assert ctx is not None and ctx.org_slug == org.slug
    assert async_to_sync(aauthenticate_api_key)(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None


def test_expired_key_is_refused(org):
    _key, raw = ApiKeyFactory.create_with_raw(
        organization=org, expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert authenticate_api_key(raw) is None
    assert async_to_sync(aauthenticate_api_key)(raw) is None


def test_key_expiring_later_works(org):
    _key, raw = ApiKeyFactory.create_with_raw(organization=org, expires_at=timezone.now() + timedelta(days=1))
    assert authenticate_api_key(raw) is not None


def test_revoked_key_is_refused(org):
    key, raw = ApiKeyFactory.create_with_raw(organization=org)
    revoke_api_key(key)
    first_revocation = key.revoked_at
    assert first_revocation is not None
    revoke_api_key(key)  # idempotent
    assert key.revoked_at == first_revocation
    assert authenticate_api_key(raw) is None
    assert async_to_sync(aauthenticate_api_key)(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "omni_",
        "Bearer omni_abcdefgh_" + "a" * 43,
        "omni_ABCDEFGH_" + "a" * 43,  # the prefix is lowercase
        "omni_abcdefgh_" + "a" * 42,
        "omni_abcdefgh_" + "a" * 44,
        "omni_abcdefgh_" + "a" * 42 + "=",
        "xomni_abcdefg_" + "a" * 43,
        "omni_abcdefgh_" + "a" * 43 + "\n",
        "x" * 10_000,
        None,
        123,
    ],
)
def test_malformed_keys_are_refused_without_a_query(db, raw, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert authenticate_api_key(raw) is None


def test_wrong_secret_with_right_prefix_is_refused(org):
    key, raw = ApiKeyFactory.create_with_raw(organization=org)
    secret = raw[len(key.prefix) + 1 :]
    forged = f"{key.prefix}_{secret[::-1]}"
    assert forged != raw and KEY_FORMAT.fullmatch(forged)
    assert authenticate_api_key(forged) is None


def test_unknown_prefix_is_refused(db):
    assert authenticate_api_key("omni_zzzzzzzz_" + "a" * 43) is None


def test_last_used_at_is_written_at_most_once_a_minute(org, django_assert_num_queries):
    key, raw = ApiKeyFactory.create_with_raw(organization=org)
    with django_assert_num_queries(2):  # read + first write
        authenticate_api_key(raw)
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    with django_assert_num_queries(1):  # read only
        authenticate_api_key(raw)
    key.refresh_from_db()
    assert key.last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    with django_assert_num_queries(2):
        authenticate_api_key(raw)
    key.refresh_from_db()
    assert key.last_used_at > first


def test_scopes_are_validated(org):
    with pytest.raises(ValidationError):
        create_api_key(org, "bad", scopes=["tools:call", "admin"])
    with pytest.raises(ValueError):
        create_api_key(org, "none", scopes=[])


def test_keys_are_scoped_to_their_org(org):
    other = OrganizationFactory()
    mine = ApiKeyFactory(organization=org)
    ApiKeyFactory(organization=other)
    assert list(ApiKey.objects.for_org(org)) == [mine]
