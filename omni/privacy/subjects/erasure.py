"""Erasing a person and deleting an organization.

``erase_user(user)`` removes the account and everything that names the person:

* their API keys (deleted: every MCP session they opened ends, the gateway forgets them),
* their Django sessions and JWT refresh tokens,
* their memberships (with the account), the invitations sent to their address, their name on the
  invitations they sent and on the test and scenario runs they started (the runs are the
  organization's and stay, without the person),
* the admin log entries about them,
* their personal fields in the audit log: actor name and IP of what they did, their name (and the
  names of their keys) where they were the target, the login names tried for them — erased in
  place, so the chain still verifies (``omni.audit.erasure``),
* the archives of their exports, their name on a legal hold they set,
* what other apps keep of them (``user_erasing``: the alerting app's email channels).

The last owner of an organization cannot be erased (``LastOwnerError``): ownership moves first.

``delete_org(org)`` removes every row of an organization (the cascade from ``Organization`` plus
the tables keyed by its slug), ends its MCP sessions, deletes its Redis keys, and after commit
sends ``omni.privacy.signals.organization_erased`` (the encryption helper destroys its data key).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.db import connection, transaction
from django.db.models import Q

from omni.audit.erasure import erase_personal
from omni.audit.models import AuditEvent
from omni.audit.services import AuditTarget, record
from omni.privacy.signals import organization_erased, user_erasing
from omni.privacy.subjects.export import invitations_addressed_to, org_rows, org_tables, user_key_ids
from omni.tenants.models import ApiKey, Invitation, Membership, Organization, Role
from omni.tenants.services import delete_organization

logger = logging.getLogger(__name__)


class LastOwnerError(Exception):
    """The person is the last owner of one or more organizations."""

    def __init__(self, slugs: list[str]) -> None:
        self.slugs = slugs
        super().__init__(
            "You are the last owner of "
            + ", ".join(slugs)
            + ": make another member owner (or delete the organization) before the account can be erased."
        )


def last_owned(user: Any) -> list[str]:
    """Slugs of the organizations where ``user`` is the only owner."""
    owned = Membership.objects.filter(user=user, role=Role.OWNER).values_list("organization_id", flat=True)
    blocked = []
    for org_id in owned:
        others = Membership.objects.filter(organization_id=org_id, role=Role.OWNER).exclude(user=user)
        if not others.exists():
            blocked.append(Organization.objects.get(pk=org_id).slug)
    return sorted(blocked)


@dataclass
class UserErasure:
    user_id: int
    keys: int = 0
    sessions: int = 0
    tokens: int = 0
    memberships: int = 0
    invitations: int = 0
    runs: int = 0
    audit_events: int = 0
    audit_kept_v1: int = 0
    details: dict[str, int] = field(default_factory=dict)


def _session_ids_of(user_id: int) -> list[str]:
    """Keys of the Django sessions that are logged in as ``user_id`` (every session is decoded:
    the table has no user column)."""
    found = []
    for session in Session.objects.iterator(chunk_size=1000):
        try:
            data = session.get_decoded()
        except Exception:  # a session that does not decode belongs to nobody we can tell
            logger.debug("session %s does not decode", session.session_key[:8])
            continue
        if str(data.get("_auth_user_id", "")) == str(user_id):
            found.append(session.session_key)
    return found


def _drain_audit_spool() -> None:
    """Write the events still in the audit spool first, so none of the person's arrives later.
    (Not inside a caller's transaction: the writer uses connections of its own.)"""
    if connection.in_atomic_block:
        return
    try:
        from omni.audit.spool.writer import run_once

        run_once(max_turns=100)
    except Exception:
        logger.exception("audit spool could not be drained before an erasure")


def erase_user(user: Any, *, actor: Any = None, request_id: int | None = None) -> UserErasure:
    """Erase ``user`` now (see the module docstring). Raises ``LastOwnerError`` before changing
    anything when they are the last owner of an organization."""
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    from omni.playground.models import ScenarioRun, TestRun
    from omni.privacy.models import DataSubjectRequest, OrgRetention

    blocked = last_owned(user)
    if blocked:
        raise LastOwnerError(blocked)
    pk = user.pk
    username = user.get_username()
    email = (getattr(user, "email", "") or "").strip()
    result = UserErasure(user_id=pk)
    key_ids = user_key_ids(user)
    # 1. Credentials first: no new session, no new event.
    with transaction.atomic():
        for key in ApiKey.objects.filter(pk__in=key_ids):
            key.delete()  # ends its MCP sessions and drops cached authentications after commit
        result.keys = len(key_ids)
        sessions = _session_ids_of(pk)
        Session.objects.filter(session_key__in=sessions).delete()
        result.sessions = len(sessions)
        tokens = OutstandingToken.objects.filter(user_id=pk)
        result.tokens = tokens.count()
        tokens.delete()
    _drain_audit_spool()
    with transaction.atomic():
        # 2. The audit log: their personal fields go, the events stay in the chain.
        as_actor = Q(actor_type=AuditEvent.ActorType.USER, actor_id=str(pk))
        if key_ids:
            as_actor |= Q(actor_type=AuditEvent.ActorType.API_KEY, actor_id__in=key_ids)
        erased = erase_personal(AuditEvent.objects.filter(as_actor), ["actor_name", "ip"])
        as_target = Q(target_type="auth.user", target_id=str(pk))
        if key_ids:  # their keys' names ("zelda's laptop") are theirs too
            as_target |= Q(target_type="tenants.apikey", target_id__in=key_ids)
        if email:
            as_target |= Q(target_repr__icontains=email)
        erased_t = erase_personal(AuditEvent.objects.filter(as_target), ["target_repr"])
        login_names = {username, username.lower()}
        as_login = Q(target_type="auth.username", target_id__in=login_names)
        erased_l = erase_personal(AuditEvent.objects.filter(as_login), ["target_id", "target_repr", "ip"])
        result.audit_events = erased.events + erased_t.events + erased_l.events
        result.audit_kept_v1 = erased.kept_v1 + erased_t.kept_v1 + erased_l.kept_v1
        # 3. Rows that copied their name or address.
        result.runs = TestRun.objects.filter(user_id=pk).update(username="", user=None)
        result.runs += ScenarioRun.objects.filter(user_id=pk).update(username="", user=None)
        Invitation.objects.filter(invited_by_id=pk).update(invited_by_name="", invited_by=None)
        received = invitations_addressed_to(email)
        result.invitations = received.count()
        received.delete()
        user_type = ContentType.objects.get_for_model(type(user))
        LogEntry.objects.filter(content_type=user_type, object_id=str(pk)).delete()
        OrgRetention.objects.filter(legal_hold_by=username).update(legal_hold_by="")
        user_erasing.send(sender=type(user), user_id=pk, username=username, email=email)
        DataSubjectRequest.objects.filter(user_id=pk).update(archive=None, archive_bytes=0, link_nonce="")
        if request_id is not None:
            DataSubjectRequest.objects.filter(pk=request_id).update(requested_by=None)
        # 4. The account (memberships, DRF tokens and admin actions go with it).
        result.memberships = Membership.objects.filter(user_id=pk).count()
        user.delete()
        record(
            "privacy.erasure_done",
            actor=actor if actor is not None else "system",
            target=AuditTarget("auth.user", str(pk), f"user #{pk}"),
            data={
                "subject": "user",
                "keys": result.keys,
                "sessions": result.sessions,
                "memberships": result.memberships,
                "audit_events_erased": result.audit_events,
                "audit_events_v1_kept": result.audit_kept_v1,
            },
        )
    return result


# --------------------------------------------------------------------------- organizations
@dataclass
class OrgDeletion:
    slug: str
    rows: dict[str, int] = field(default_factory=dict)
    sessions: int = 0
    redis_keys: int = 0


def redis_patterns(org_id: int, slug: str, key_ids: list[str]) -> list[str]:
    """SCAN patterns of the Redis keys that belong to an organization: those naming its id as an
    ``org:<id>`` segment, its slug as a segment, or one of its API keys (``key:<uuid>``)."""
    patterns = [f"*:org:{org_id}", f"*:org:{org_id}:*", f"*:{slug}", f"*:{slug}:*"]
    patterns += [f"*key:{key_id}*" for key_id in key_ids]
    return patterns


def delete_redis_keys(patterns: list[str]) -> int:
    url = getattr(settings, "REDIS_URL", None)
    if not url:
        return 0
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    deleted = 0
    try:
        for pattern in patterns:
            batch: list[bytes] = []
            for key in client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    deleted += client.unlink(*batch)
                    batch = []
            if batch:
                deleted += client.unlink(*batch)
    finally:
        client.close()
    return deleted


def delete_org(org: Organization, *, actor: Any = None) -> OrgDeletion:
    """Delete ``org`` now with every row, Redis key and session of it."""
    from omni.gateway.sessions import get_backend

    result = OrgDeletion(slug=org.slug)
    org_id, slug = org.pk, org.slug
    key_ids = [str(pk) for pk in ApiKey.objects.filter(organization_id=org_id).values_list("pk", flat=True)]
    with transaction.atomic():
        for model, how in org_tables():
            if how == "org_slug":  # tables keyed by the slug: not reached by the cascade
                count, _ = org_rows(model, how, org).delete()
                result.rows[model._meta.label_lower] = count
            else:
                result.rows[model._meta.label_lower] = org_rows(model, how, org).count()
        result.rows["tenants.membership"] = Membership.objects.filter(organization_id=org_id).count()
        delete_organization(org)
        record(
            "privacy.org_deleted",
            actor=actor if actor is not None else "system",
            target=AuditTarget("tenants.organization", slug, slug),
            data={"rows": result.rows},
        )

    backend = get_backend()
    result.sessions = backend.end_org_sessions(org_id)
    for key_id in key_ids:
        result.sessions += backend.end_credential_sessions(f"key:{key_id}")
    result.redis_keys = delete_redis_keys(redis_patterns(org_id, slug, key_ids))
    organization_erased.send(sender=Organization, organization_id=org_id, slug=slug)
    return result
