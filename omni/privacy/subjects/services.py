"""Data-subject requests: asking, cancelling, carrying out, downloading — and their audit events.

Exports are built by a Celery task (``tasks.build_export``) after the request commits; the zip is
kept in the request row until it is downloaded once or its link expires
(``DSR_EXPORT_LINK_HOURS``). The link carries a signed token (``django.core.signing``) naming the
request and a one-time nonce; downloading clears the nonce and the archive in the same locked
transaction, so a second use — or a use after expiry — finds nothing.

Erasures wait ``DSR_ERASURE_GRACE_HOURS`` (the person or owner can cancel meanwhile); the beat task
``tasks.process_due_requests`` carries out those that are due. The commands act at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from omni.audit.services import AuditTarget, record
from omni.privacy.models import DataSubjectRequest
from omni.privacy.subjects.erasure import LastOwnerError, delete_org, erase_user, last_owned
from omni.tenants.models import Organization

SALT = "omni.privacy.export-link"
State = DataSubjectRequest.State
Kind = DataSubjectRequest.Kind


class RequestError(Exception):
    """A request that cannot be made or carried out (a clear message for the person)."""


def _user_target(user_id: int) -> AuditTarget:
    return AuditTarget("auth.user", str(user_id), f"user #{user_id}")


def _org_target(org: Organization) -> AuditTarget:
    return AuditTarget("tenants.organization", org.slug, org.slug)


def _label_user(user: Any) -> str:
    return f"user #{user.pk}"


def _label_org(org: Organization) -> str:
    return f"org {org.slug}"


def _open(qs: Any) -> Any:
    return qs.filter(state__in=[State.PENDING, State.RUNNING])


# --------------------------------------------------------------------------- exports
def _open_export(qs: Any) -> DataSubjectRequest | None:
    """An export of the same subject that is queued, running, or ready and not yet expired."""
    now = timezone.now()
    return (
        qs.select_for_update()
        .filter(kind=Kind.EXPORT, via="ui")
        .filter(Q(state__in=[State.PENDING, State.RUNNING]) | Q(state=State.READY, link_expires_at__gt=now))
        .defer("archive")
        .first()
    )


def request_user_export(user: Any, *, request: Any = None, via: str = "ui") -> DataSubjectRequest:
    from omni.privacy.subjects.tasks import build_export

    with transaction.atomic():
        open_export = _open_export(DataSubjectRequest.objects.filter(user=user, subject_type="user"))
        if open_export is not None:  # one at a time: a click more does not build another zip
            return open_export
        dsr = DataSubjectRequest.objects.create(
            kind=Kind.EXPORT,
            subject_type=DataSubjectRequest.SubjectType.USER,
            user=user,
            requested_by=user,
            subject_label=_label_user(user),
            via=via,
        )
        record(
            "privacy.export_requested",
            actor=user,
            target=_user_target(user.pk),
            request=request,
            data={"subject": "user", "request": str(dsr.public_id)},
        )
        transaction.on_commit(lambda: build_export.delay(dsr.pk))
    return dsr


def request_org_export(org: Organization, user: Any, *, request: Any = None) -> DataSubjectRequest:
    from omni.privacy.subjects.tasks import build_export

    with transaction.atomic():
        open_export = _open_export(
            DataSubjectRequest.objects.filter(organization=org, subject_type="organization")
        )
        if open_export is not None:
            return open_export
        dsr = DataSubjectRequest.objects.create(
            kind=Kind.EXPORT,
            subject_type=DataSubjectRequest.SubjectType.ORGANIZATION,
            organization=org,
            requested_by=user,
            subject_label=_label_org(org),
        )
        record(
            "privacy.export_requested",
            organization=org,
            actor=user,
            target=_org_target(org),
            request=request,
            data={"subject": "organization", "request": str(dsr.public_id)},
        )
        transaction.on_commit(lambda: build_export.delay(dsr.pk))
    return dsr


def build(dsr_id: int) -> DataSubjectRequest | None:
    """Build the archive of an export request (the task's body). Idempotent: a request that is
    not pending any more is left alone."""
    from omni.privacy.subjects.export import org_archive, user_archive

    with transaction.atomic():
        dsr = DataSubjectRequest.objects.select_for_update().filter(pk=dsr_id, kind=Kind.EXPORT).first()
        if dsr is None or dsr.state != State.PENDING:
            return dsr
        dsr.state = State.RUNNING
        dsr.save(update_fields=["state"])
    try:
        if dsr.subject_type == DataSubjectRequest.SubjectType.USER:
            if dsr.user is None:
                raise RequestError("the user no longer exists")
            data = user_archive(dsr.user)
            name = f"omni-user-{dsr.user_id}-{timezone.now():%Y%m%d-%H%M%S}.zip"
        else:
            if dsr.organization is None:
                raise RequestError("the organization no longer exists")
            data = org_archive(dsr.organization)
            name = f"omni-org-{dsr.organization.slug}-{timezone.now():%Y%m%d-%H%M%S}.zip"
    except Exception as exc:
        DataSubjectRequest.objects.filter(pk=dsr.pk).update(state=State.FAILED, error=str(exc)[:2000])
        raise
    now = timezone.now()
    # save(), not update(): the archive is sealed with the organization's (or the platform) key.
    dsr.state, dsr.archive, dsr.archive_name, dsr.archive_bytes = State.READY, data, name, len(data)
    dsr.link_nonce = secrets.token_urlsafe(24)
    dsr.link_expires_at = now + timedelta(hours=settings.DSR_EXPORT_LINK_HOURS)
    dsr.completed_at = now
    dsr.save(
        update_fields=[
            "state",
            "archive",
            "archive_name",
            "archive_bytes",
            "link_nonce",
            "link_expires_at",
            "completed_at",
        ]
    )
    dsr.refresh_from_db()
    return dsr


def download_token(dsr: DataSubjectRequest) -> str:
    """The signed token of the one-time link (valid while the nonce is unused and not expired)."""
    return signing.dumps({"r": str(dsr.public_id), "n": dsr.link_nonce}, salt=SALT, compress=True)


@dataclass
class Download:
    name: str
    data: bytes


def consume_download(token: str, user: Any, *, request: Any = None) -> Download:
    """The archive behind ``token``, once: raises ``RequestError`` for a bad, used or expired link
    or one that belongs to another person. The archive is cleared in the same transaction."""
    max_age = settings.DSR_EXPORT_LINK_HOURS * 3600
    try:
        payload = signing.loads(token, salt=SALT, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise RequestError("This download link has expired.") from exc
    except signing.BadSignature as exc:
        raise RequestError("This download link is not valid.") from exc
    with transaction.atomic():
        dsr = (
            DataSubjectRequest.objects.select_for_update()
            .filter(public_id=payload.get("r"), kind=Kind.EXPORT)
            .first()
        )
        if dsr is None or dsr.requested_by_id != getattr(user, "pk", None):
            raise RequestError("This download link is not valid.")
        if dsr.downloaded_at is not None or not dsr.link_nonce:
            raise RequestError("This download link has already been used.")
        if dsr.link_nonce != payload.get("n"):
            raise RequestError("This download link is not valid.")
        expired = dsr.link_expires_at is None or dsr.link_expires_at <= timezone.now() or dsr.archive is None
        if expired:
            dsr.state, dsr.archive, dsr.link_nonce = State.EXPIRED, None, ""
            dsr.save(update_fields=["state", "archive", "link_nonce"])
        else:
            data = bytes(dsr.archive)
            dsr.archive, dsr.link_nonce, dsr.downloaded_at, dsr.state = None, "", timezone.now(), State.DONE
            dsr.save(update_fields=["archive", "link_nonce", "downloaded_at", "state"])
            record(
                "privacy.export_downloaded",
                organization=dsr.organization,
                actor=user,
                target=_org_target(dsr.organization) if dsr.organization else _user_target(dsr.user_id),
                request=request,
                data={"request": str(dsr.public_id), "bytes": len(data)},
            )
    if expired:  # raised after the commit: the archive is dropped either way
        raise RequestError("This download link has expired.")
    return Download(dsr.archive_name, data)


def expire_links() -> int:
    """Clear the archives whose link expired unused; returns how many."""
    now = timezone.now()
    return DataSubjectRequest.objects.filter(state=State.READY, link_expires_at__lte=now).update(
        state=State.EXPIRED, archive=None, link_nonce=""
    )


# --------------------------------------------------------------------------- erasure
def request_user_erasure(user: Any, password: str, *, request: Any = None) -> DataSubjectRequest:
    if not password or not user.check_password(password):
        raise RequestError("The password is not correct.")
    blocked = last_owned(user)
    if blocked:
        raise RequestError(str(LastOwnerError(blocked)))
    with transaction.atomic():
        existing = _open(
            DataSubjectRequest.objects.select_for_update().filter(user=user, kind=Kind.ERASURE)
        ).first()
        if existing is not None:
            return existing
        now = timezone.now()
        dsr = DataSubjectRequest.objects.create(
            kind=Kind.ERASURE,
            subject_type=DataSubjectRequest.SubjectType.USER,
            user=user,
            requested_by=user,
            subject_label=_label_user(user),
            scheduled_for=now + timedelta(hours=settings.DSR_ERASURE_GRACE_HOURS),
        )
        record(
            "privacy.erasure_requested",
            actor=user,
            target=_user_target(user.pk),
            request=request,
            data={
                "subject": "user",
                "request": str(dsr.public_id),
                "scheduled_for": dsr.scheduled_for.isoformat(),
            },
        )
    return dsr


def request_org_deletion(org: Organization, user: Any, *, request: Any = None) -> DataSubjectRequest:
    with transaction.atomic():
        existing = _open(
            DataSubjectRequest.objects.select_for_update().filter(organization=org, kind=Kind.ERASURE)
        ).first()
        if existing is not None:
            return existing
        dsr = DataSubjectRequest.objects.create(
            kind=Kind.ERASURE,
            subject_type=DataSubjectRequest.SubjectType.ORGANIZATION,
            organization=org,
            requested_by=user,
            subject_label=_label_org(org),
            scheduled_for=timezone.now() + timedelta(hours=settings.DSR_ERASURE_GRACE_HOURS),
        )
        record(
            "privacy.erasure_requested",
            organization=org,
            actor=user,
            target=_org_target(org),
            request=request,
            data={
                "subject": "organization",
                "request": str(dsr.public_id),
                "scheduled_for": dsr.scheduled_for.isoformat(),
            },
        )
    return dsr


def cancel(dsr: DataSubjectRequest, user: Any, *, request: Any = None) -> bool:
    """Cancel a pending erasure (in its grace period). Returns whether it was cancelled."""
    with transaction.atomic():
        locked = DataSubjectRequest.objects.select_for_update().get(pk=dsr.pk)
        if locked.kind != Kind.ERASURE or locked.state != State.PENDING:
            return False
        locked.state, locked.completed_at = State.CANCELLED, timezone.now()
        locked.save(update_fields=["state", "completed_at"])
        target = _org_target(locked.organization) if locked.organization else _user_target(locked.user_id)
        record(
            "privacy.erasure_cancelled",
            organization=locked.organization,
            actor=user,
            target=target,
            request=request,
            data={"request": str(locked.public_id)},
        )
    return True


def carry_out(dsr_id: int) -> DataSubjectRequest | None:
    """Carry out one erasure that is due (the task's body). A last-owner refusal keeps the request
    pending with the reason in ``error`` (the next run tries again)."""
    with transaction.atomic():
        dsr = (
            DataSubjectRequest.objects.select_for_update(skip_locked=True)
            .filter(pk=dsr_id, kind=Kind.ERASURE, state=State.PENDING)
            .first()
        )
        if dsr is None:
            return None
        dsr.state = State.RUNNING
        dsr.save(update_fields=["state"])
    try:
        if dsr.subject_type == DataSubjectRequest.SubjectType.USER:
            if dsr.user is not None:
                erase_user(dsr.user, request_id=dsr.pk)
        elif dsr.organization is not None:
            delete_org(dsr.organization)
    except LastOwnerError as exc:
        DataSubjectRequest.objects.filter(pk=dsr.pk).update(state=State.PENDING, error=str(exc))
        return dsr
    except Exception as exc:
        DataSubjectRequest.objects.filter(pk=dsr.pk).update(state=State.FAILED, error=str(exc)[:2000])
        raise
    DataSubjectRequest.objects.filter(pk=dsr.pk).update(
        state=State.DONE, completed_at=timezone.now(), error="", requested_by=None
    )
    dsr.refresh_from_db()
    return dsr


def due_erasures() -> list[int]:
    return list(
        DataSubjectRequest.objects.filter(
            kind=Kind.ERASURE, state=State.PENDING, scheduled_for__lte=timezone.now()
        )
        .order_by("scheduled_for")
        .values_list("pk", flat=True)[:100]
    )


# --------------------------------------------------------------------------- commands
def erase_user_now(user: Any) -> Any:
    """``erase_user`` with its register row (the operator's command)."""
    blocked = last_owned(user)
    if blocked:
        raise LastOwnerError(blocked)
    dsr = DataSubjectRequest.objects.create(
        kind=Kind.ERASURE,
        subject_type=DataSubjectRequest.SubjectType.USER,
        user=user,
        subject_label=_label_user(user),
        via="command",
        scheduled_for=timezone.now(),
        state=State.RUNNING,
    )
    result = erase_user(user, actor="operator", request_id=dsr.pk)
    DataSubjectRequest.objects.filter(pk=dsr.pk).update(state=State.DONE, completed_at=timezone.now())
    return result


def delete_org_now(org: Organization) -> Any:
    dsr = DataSubjectRequest.objects.create(
        kind=Kind.ERASURE,
        subject_type=DataSubjectRequest.SubjectType.ORGANIZATION,
        organization=org,
        subject_label=_label_org(org),
        via="command",
        scheduled_for=timezone.now(),
        state=State.RUNNING,
    )
    result = delete_org(org, actor="operator")
    DataSubjectRequest.objects.filter(pk=dsr.pk).update(state=State.DONE, completed_at=timezone.now())
    return result


def export_now(*, user: Any = None, org: Organization | None = None) -> bytes:
    """An archive built at once (the operator's commands), recorded in the register."""
    from omni.privacy.subjects.export import org_archive, user_archive

    subject = (
        DataSubjectRequest.SubjectType.USER
        if user is not None
        else DataSubjectRequest.SubjectType.ORGANIZATION
    )
    dsr = DataSubjectRequest.objects.create(
        kind=Kind.EXPORT,
        subject_type=subject,
        user=user,
        organization=org,
        subject_label=_label_user(user) if user is not None else _label_org(org),
        via="command",
        state=State.RUNNING,
    )
    data = user_archive(user) if user is not None else org_archive(org)
    DataSubjectRequest.objects.filter(pk=dsr.pk).update(
        state=State.DONE, completed_at=timezone.now(), archive_bytes=len(data)
    )
    target = _user_target(user.pk) if user is not None else _org_target(org)
    record(
        "privacy.export_done",
        organization=org,
        actor="operator",
        target=target,
        data={"subject": subject, "request": str(dsr.public_id), "bytes": len(data), "via": "command"},
    )
    return data
