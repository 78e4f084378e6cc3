"""What an export holds: an explicit list of files, each one table of the subject's data.

``user_archive(user)`` and ``org_archive(org)`` return the bytes of a zip of JSON files with a
README.txt describing them. Secrets never enter an export: no password hash, no API-key hash, no
invitation token hash, no server credential, nothing from an encrypted field; a person's export
holds nothing of another person (the address of someone they invited is left out).
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Q
from django.utils import timezone

from omni.audit.models import AuditEvent
from omni.tenants.models import ApiKey, Invitation, Membership, Organization

# Fields that never leave the server in any export (secrets, hashes, internal salts, archives).
SECRET_FIELDS = frozenset(
    {
        "password",
        "key_hash",
        "token_hash",
        "credential",
        "secret",
        "archive",
        "link_nonce",
        "personal_salts",
        "env",  # a server connection's environment variables (often tokens)
    }
)
CHUNK = 500


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return None
    return value


def _is_secret(field: models.Field) -> bool:
    return field.name in SECRET_FIELDS or "encrypt" in type(field).__name__.lower()


def row_dict(obj: models.Model, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """A model row as JSON-ready values: concrete fields minus secrets (foreign keys as their id)."""
    skip = set(exclude)
    out: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if field.name in skip or _is_secret(field):
            continue
        out[field.attname] = _value(getattr(obj, field.attname))
    return out


class ArchiveWriter:
    """A zip built in a temporary file (spilled to disk past 8 MiB), one JSON file per table,
    rows written as they are read (constant memory for large tables)."""

    def __init__(self) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
        self._zip = zipfile.ZipFile(self._file, "w", compression=zipfile.ZIP_DEFLATED)
        self.counts: dict[str, int] = {}

    def json_file(self, name: str, value: Any) -> None:
        self._zip.writestr(name, json.dumps(value, indent=2, ensure_ascii=False, default=str))

    def json_rows(self, name: str, rows: Iterable[dict[str, Any]]) -> int:
        count = 0
        with self._zip.open(name, "w") as out:
            out.write(b"[")
            for row in rows:
                out.write(
                    (b",\n" if count else b"\n") + json.dumps(row, ensure_ascii=False, default=str).encode()
                )
                count += 1
            out.write(b"\n]\n")
        self.counts[name] = count
        return count

    def text(self, name: str, text: str) -> None:
        self._zip.writestr(name, text)

    def finish(self) -> bytes:
        self._zip.close()
        self._file.seek(0)
        data = self._file.read()
        self._file.close()
        return data


def _rows(queryset: models.QuerySet, convert: Callable[[Any], dict[str, Any]] = row_dict) -> Iterator[dict]:
    for obj in queryset.iterator(chunk_size=CHUNK):
        yield convert(obj)


# --------------------------------------------------------------------------- a person
AUDIT_FIELDS = (
    "seq",
    "public_id",
    "created_at",
    "org_slug",
    "actor_type",
    "actor_name",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "request_id",
    "ip",
    "data",
)

USER_README = """\
Your data on {site} — exported {when} for user #{pk}
=================================================================

Every file is JSON (UTF-8). Times are ISO 8601 in UTC.

profile.json        your account: username, names, email, when it was created, last log-in,
                    whether it is active / staff / superuser. The password hash is not exported.
memberships.json    the organizations you belong to, with your role and since when.
api_keys.json       the API keys you created: name, organization, visible prefix, scopes, expiry,
                    revocation, last use. Never the key itself or its hash (neither is kept).
audit_events.json   the audit-log events of actions you took (signed in, or through one of your
                    keys): when, what, on what, from which IP, with which details.
test_runs.json      the MCP operations you ran from the playground, the test API or a scenario,
                    with their request, response, outcome and timing.
scenario_runs.json  the scenarios you ran, with their report.
invitations.json    "sent": the invitations you sent (organization, role, state, dates; the address
                    you invited is another person's data and is left out); "received": the
                    invitations sent to your email address (organization, role, state, dates).
requests.json       your data-subject requests (exports, erasure) and their state.
"""


def _audit_row(event: AuditEvent) -> dict[str, Any]:
    return {name: _value(getattr(event, name)) for name in AUDIT_FIELDS}


def _invitation_row(invitation: Invitation, *, with_email: bool) -> dict[str, Any]:
    row = {
        "id": str(invitation.pk),
        "organization": invitation.organization.slug,
        "role": invitation.role,
        "state": str(invitation.status()),
        "created_at": _value(invitation.created_at),
        "expires_at": _value(invitation.expires_at),
        "accepted_at": _value(invitation.accepted_at),
        "revoked_at": _value(invitation.revoked_at),
    }
    if with_email:
        row["email"] = invitation.email
    return row


def user_key_ids(user: Any) -> list[str]:
    return [str(pk) for pk in ApiKey.objects.filter(created_by=user).values_list("pk", flat=True)]


def user_audit_events(user: Any) -> models.QuerySet[AuditEvent]:
    """Events of actions ``user`` took: signed in as them, or with one of the keys they created."""
    keys = user_key_ids(user)
    query = Q(actor_type=AuditEvent.ActorType.USER, actor_id=str(user.pk))
    if keys:
        query |= Q(actor_type=AuditEvent.ActorType.API_KEY, actor_id__in=keys)
    return AuditEvent.objects.filter(query).order_by("seq")


def user_archive(user: Any, *, site: str = "Omni MCP") -> bytes:
    from omni.playground.models import ScenarioRun, TestRun
    from omni.privacy.models import DataSubjectRequest

    writer = ArchiveWriter()
    writer.text("README.txt", USER_README.format(site=site, when=timezone.now().isoformat(), pk=user.pk))
    profile = {
        "id": user.pk,
        "username": user.get_username(),
        "first_name": getattr(user, "first_name", ""),
        "last_name": getattr(user, "last_name", ""),
        "email": getattr(user, "email", ""),
        "date_joined": _value(getattr(user, "date_joined", None)),
        "last_login": _value(user.last_login),
        "is_active": user.is_active,
        "is_staff": getattr(user, "is_staff", False),
        "is_superuser": getattr(user, "is_superuser", False),
    }
    writer.json_file("profile.json", profile)
    memberships = Membership.objects.filter(user=user).select_related("organization").order_by("pk")
    writer.json_rows(
        "memberships.json",
        (
            {
                "organization": m.organization.slug,
                "organization_name": m.organization.name,
                "role": m.role,
                "since": _value(m.created_at),
            }
            for m in memberships.iterator(chunk_size=CHUNK)
        ),
    )
    keys = ApiKey.objects.filter(created_by=user).select_related("organization").order_by("created_at")
    writer.json_rows(
        "api_keys.json",
        (
            {
                "id": str(k.pk),
                "organization": k.organization.slug,
                "name": k.name,
                "prefix": k.prefix,
                "scopes": k.scopes,
                "created_at": _value(k.created_at),
                "expires_at": _value(k.expires_at),
                "revoked_at": _value(k.revoked_at),
                "last_used_at": _value(k.last_used_at),
            }
            for k in keys.iterator(chunk_size=CHUNK)
        ),
    )
    writer.json_rows("audit_events.json", _rows(user_audit_events(user), _audit_row))
    writer.json_rows(
        "test_runs.json",
        _rows(
            TestRun.objects.filter(user=user).order_by("created_at", "pk"),
            lambda r: row_dict(r, exclude={"user"}),
        ),
    )
    writer.json_rows(
        "scenario_runs.json",
        _rows(
            ScenarioRun.objects.filter(user=user).order_by("started_at", "pk"),
            lambda r: row_dict(r, exclude={"user"}),
        ),
    )
    sent = Invitation.objects.filter(invited_by=user).select_related("organization").order_by("created_at")
    received = Invitation.objects.none()
    if getattr(user, "email", ""):
        received = invitations_addressed_to(user.email).select_related("organization").order_by("created_at")
    writer.json_file(
        "invitations.json",
        {
            "sent": [_invitation_row(i, with_email=False) for i in sent.iterator(chunk_size=CHUNK)],
            "received": [_invitation_row(i, with_email=True) for i in received.iterator(chunk_size=CHUNK)],
        },
    )
    requests = DataSubjectRequest.objects.filter(user=user, subject_type="user").order_by("requested_at")
    writer.json_rows(
        "requests.json",
        (
            {
                "id": str(r.public_id),
                "kind": r.kind,
                "state": r.state,
                "requested_at": _value(r.requested_at),
                "due_at": _value(r.due_at),
                "completed_at": _value(r.completed_at),
            }
            for r in requests.iterator(chunk_size=CHUNK)
        ),
    )
    return writer.finish()


# --------------------------------------------------------------------------- an organization
ORG_README = """\
Organization "{slug}" on {site} — exported {when}
=================================================================

Every file is JSON (UTF-8): a list of rows, one object per row, foreign keys as ids.
Times are ISO 8601 in UTC. Credentials are excluded: server credentials, API-key and invitation
token hashes, and every encrypted field are never exported.

organization.json     the organization: slug, name, settings, creation time.
members.json          its members: username and role (no email addresses).
audit_log.json        its audit log, oldest first, with seq, prev_hash and hash, and what the hash
                      covers besides the fields shown (source, source_seq, chain_version and the
                      digests of the personal fields); erased personal fields show as "[erased]".
tables/<app>.<model>.json
                      every other table that belongs to the organization, one file each:
{tables}
"""

# Tables exported by their own file above, or never (the register keeps no tenant content).
_OWN_FILES = {"audit.auditevent", "tenants.membership", "privacy.datasubjectrequest"}


def org_tables() -> list[tuple[type[models.Model], str]]:
    """Every model with rows that belong to one organization: (model, how it points at it), where
    "organization" is a foreign key to ``Organization`` and "org_slug" a copied slug."""
    found: list[tuple[type[models.Model], str]] = []
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in _OWN_FILES or model is Organization:
            continue
        names = {f.name: f for f in model._meta.concrete_fields}
        field = names.get("organization")
        if field is not None and field.is_relation and field.related_model is Organization:
            found.append((model, "organization"))
        elif "org_slug" in names:
            found.append((model, "org_slug"))
    return sorted(found, key=lambda item: item[0]._meta.label_lower)


def org_rows(model: type[models.Model], how: str, org: Organization) -> models.QuerySet:
    manager = model._base_manager
    if how == "organization":
        return manager.filter(organization_id=org.pk)
    return manager.filter(org_slug=org.slug)


def org_archive(org: Organization, *, site: str = "Omni MCP") -> bytes:
    writer = ArchiveWriter()
    tables = org_tables()
    listing = "\n".join(f"                        {m._meta.label_lower}" for m, _ in tables)
    writer.text(
        "README.txt",
        ORG_README.format(slug=org.slug, site=site, when=timezone.now().isoformat(), tables=listing),
    )
    writer.json_file("organization.json", row_dict(org))
    members = Membership.objects.for_org(org).select_related("user").order_by("pk")
    writer.json_rows(
        "members.json",
        (
            {"username": m.user.get_username(), "role": m.role, "since": _value(m.created_at)}
            for m in members.iterator(chunk_size=CHUNK)
        ),
    )
    audit = AuditEvent.objects.filter(organization_id=org.pk).order_by("seq")
    writer.json_rows(
        "audit_log.json",
        _rows(
            audit,
            lambda e: {
                **_audit_row(e),
                "source": e.source,
                "source_seq": e.source_seq,
                "chain_version": e.chain_version,
                "personal": e.personal,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            },
        ),
    )
    for model, how in tables:
        writer.json_rows(
            f"tables/{model._meta.label_lower}.json", _rows(org_rows(model, how, org).order_by("pk"))
        )
    return writer.finish()


def user_model() -> type[models.Model]:
    return get_user_model()


def invitations_addressed_to(email: str) -> models.QuerySet[Invitation]:
    """The invitations sent to ``email`` in any organization. Addresses are encrypted at rest, so
    they are found through their blind index, which is keyed per organization: only organizations
    with a live data key are asked (where the key was destroyed the address is unreadable already,
    and asking would create a new key)."""
    from omni.privacy.crypto.fields import blind_index
    from omni.privacy.models import DataKey

    normalized = (email or "").strip().lower()
    if not normalized:
        return Invitation.objects.none()
    org_ids = Invitation.objects.values("organization_id").distinct()
    live = (
        DataKey.objects.filter(organization_id__in=org_ids, destroyed_at__isnull=True)
        .values_list("organization_id", flat=True)
        .distinct()
    )
    match = Q(pk__in=[])
    for org_id in live:
        match |= Q(organization_id=org_id, email_hash=blind_index(org_id, normalized))
    return Invitation.objects.filter(match)
