"""Tenancy services: organizations, members, API keys, and resolving who is asking."""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from omni.audit.services import record
from omni.dbexec import run_db
from omni.tenants.changes import api_key_ended, credentials_changed
from omni.tenants.context import OrgContext
from omni.tenants.models import ApiKey, Membership, Organization, Role, hash_api_key, validate_scopes
from omni.tenants.permissions import API_KEY_SCOPES, role_scopes

# omni_<8 lowercase alnum>_<43 urlsafe characters>
API_KEY_RE = re.compile(r"omni_[a-z0-9]{8}_[A-Za-z0-9_-]{43}")
API_KEY_LENGTH = 5 + 8 + 1 + 43
# last_used_at is written at most once per this interval (not once per request).
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Hash something even for an unknown prefix, so a miss costs about what a hit costs.
_DUMMY_HASH = hash_api_key("omni_00000000_" + "0" * 43)


def create_organization(slug: str, name: str) -> Organization:
    org = Organization(slug=slug, name=name)
    org.full_clean()
    org.save()
    record("org.create", organization=org, target=org, data={"name": name})
    return org


def add_member(org: Organization, user: AbstractBaseUser, role: str = Role.MEMBER) -> Membership:
    """Make ``user`` a member of ``org`` with ``role``, or change the role of an existing member."""
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(Role.values)}")
    membership, created = Membership.objects.get_or_create(
        organization=org, user=user, defaults={"role": role}
    )
    if created:
        record("member.add", organization=org, target=user, data={"role": role})
    elif membership.role != role:
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        record("member.role_change", organization=org, target=user, data={"before": before, "after": role})
    return membership


def create_api_key(
    org: Organization,
    name: str,
    scopes: Iterable[str] | None = None,
    expires_at: datetime | None = None,
    created_by: AbstractBaseUser | None = None,
) -> tuple[ApiKey, str]:
    """Create a key for ``org``; return it and the raw key, which is shown once and never stored."""
    scope_list = list(API_KEY_SCOPES) if scopes is None else sorted(set(scopes))
    validate_scopes(scope_list)
    if not scope_list:
        raise ValueError("an API key needs at least one scope")
    for attempt in range(3):
        key = ApiKey(
            organization=org, name=name, scopes=scope_list, expires_at=expires_at, created_by=created_by
        )
        raw = key.generate_secret()
        key.full_clean(exclude=["prefix", "key_hash"])
        try:
            with transaction.atomic():
                key.save(force_insert=True)
        except IntegrityError:  # a prefix collision (36**8 prefixes): draw again
            if attempt == 2:
                raise
            continue
        record(
            "apikey.create",
            organization=org,
            actor=created_by,
            target=key,
            data={
                "name": name,
                "scopes": scope_list,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
        )
        return key, raw
    raise AssertionError("unreachable")


def revoke_api_key(key: ApiKey) -> ApiKey:
    """Revoke ``key`` (idempotent: a revoked key keeps its first revocation time)."""
    if key.revoked_at is None:
        now = timezone.now()
        ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=now)
        key.refresh_from_db(fields=["revoked_at"])
        credentials_changed()
        api_key_ended(key.pk)
        if key.revoked_at == now:  # this call revoked it (not a concurrent one)
            record("apikey.revoke", organization=key.organization, target=key, data={"name": key.name})
    return key


def _parse_prefix(raw: object) -> str | None:
    if not isinstance(raw, str) or len(raw) != API_KEY_LENGTH or not API_KEY_RE.fullmatch(raw):
        return None
    return raw[:13]


def _check_key(key: ApiKey | None, raw: str, now: datetime) -> bool:
    expected = key.key_hash if key is not None else _DUMMY_HASH
    matches = hmac.compare_digest(expected, hash_api_key(raw))
    return key is not None and matches and key.is_active(now)


def _key_context(key: ApiKey) -> OrgContext:
    return OrgContext(
        organization=key.organization,
        principal=f"key:{key.prefix}",
        role=Role.MEMBER,
        scopes=frozenset(key.scopes) & frozenset(API_KEY_SCOPES),
        api_key=key,
    )


def _stale_last_used(key: ApiKey, now: datetime) -> Q | None:
    """The filter of a last_used_at write, or None when the stored value is recent enough."""
    cutoff = now - LAST_USED_RESOLUTION
    if key.last_used_at is not None and key.last_used_at > cutoff:
        return None
    return Q(pk=key.pk) & (Q(last_used_at__isnull=True) | Q(last_used_at__lte=cutoff))


def authenticate_api_key(raw: str) -> OrgContext | None:
    """The context of a valid raw key; None if it is malformed, unknown, wrong, expired or revoked."""
    prefix = _parse_prefix(raw)
    if prefix is None:
        return None
    key = ApiKey.objects.select_related("organization").filter(prefix=prefix).first()
    now = timezone.now()
    if not _check_key(key, raw, now):
        return None
    stale = _stale_last_used(key, now)
    if stale is not None:
        _touch_last_used(key, stale, now)
        key.last_used_at = now
    return _key_context(key)


def _touch_last_used(key: ApiKey, stale: Q, now: datetime) -> None:
    """Record the key's use unless another transaction holds its row: a row lock (an admin editing
    the key, a long transaction) must never make authentication wait. On PostgreSQL one statement,
    ``UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)`` (the next request records a skipped
    use); SQLite has no row locks and runs a plain update."""
    if connection.vendor != "postgresql":
        ApiKey.objects.filter(stale).update(last_used_at=now)
        return
    table = connection.ops.quote_name(ApiKey._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_used_at = %s WHERE id = (SELECT id FROM {table} WHERE id = %s"  # noqa: S608 (table: the model's own, quoted)
            " AND (last_used_at IS NULL OR last_used_at <= %s) FOR UPDATE SKIP LOCKED)",
            [now, key.pk, now - LAST_USED_RESOLUTION],
        )


async def aauthenticate_api_key(raw: str) -> OrgContext | None:
    """``authenticate_api_key`` off the event loop (``omni.dbexec.run_db``: on a pooled PostgreSQL,
    beside other requests' database work instead of queued behind it)."""
    return await run_db(authenticate_api_key, raw)


def _user_context(membership: Membership | None, user: AbstractBaseUser) -> OrgContext:
    if membership is None:
        # Outsiders learn nothing: the organization might as well not exist.
        raise Http404("No such organization.")
    return OrgContext(
        organization=membership.organization,
        principal=f"user:{user.get_username()}",
        role=membership.role,
        scopes=role_scopes(membership.role),
        user_id=user.pk,
    )


def _membership_query(user: AbstractBaseUser | AnonymousUser, org_slug: str):
    if not getattr(user, "is_authenticated", False) or not isinstance(org_slug, str):
        return None
    return Membership.objects.select_related("organization").filter(user=user, organization__slug=org_slug)


def resolve_user_context(user: AbstractBaseUser | AnonymousUser, org_slug: str) -> OrgContext:
    """The context of a logged-in ``user`` in organization ``org_slug``; Http404 unless a member."""
    query = _membership_query(user, org_slug)
    return _user_context(query.first() if query is not None else None, user)


async def aresolve_user_context(user: AbstractBaseUser | AnonymousUser, org_slug: str) -> OrgContext:
    """``resolve_user_context`` with the async ORM."""
    query = _membership_query(user, org_slug)
    return _user_context(await query.afirst() if query is not None else None, user)


def organizations_for_user(user: AbstractBaseUser | AnonymousUser) -> list[Organization]:
    """The organizations ``user`` belongs to (for an organization switcher), by slug."""
    if not getattr(user, "is_authenticated", False):
        return []
    return list(Organization.objects.filter(memberships__user=user).order_by("slug"))


def delete_organization(org: Organization) -> None:
    """Delete ``org`` and everything it owns; its gateway catalogue is dropped after commit.

    The cascade removes the organization's registry rows without calling their ``delete()``, so the
    notification that each of them would send is sent once here instead.
    """
    org_id = org.pk
    with transaction.atomic():
        org.delete()
        # org.pk is None now: the event keeps the slug only (like the org's older events).
        record("org.delete", organization=org, target=org, data={"name": org.name})
        transaction.on_commit(lambda: _notify_all(org_id))


def _notify_all(org_id: int) -> None:
    from omni.gateway.notify import registry_changed

    registry_changed(org_id, {"tools", "prompts", "resources"})
