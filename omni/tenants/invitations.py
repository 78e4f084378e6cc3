"""Membership by invitation: an admin invites an email address with a role; the person accepts
through a one-time link sent by email (Django's mail backend: the console by default, SMTP by
configuration — ``EMAIL_*`` settings) and joins by signing in or creating an account.

The rules, in one place:

* No enumeration: inviting says the same thing, and sends the same mail, whether or not an account
  exists for the address; the link's page offers both "sign in" and "create an account".
* Only a sha256 of the link's token is stored; the raw token exists only in the mail.
* An invitation is single-use, expires after ``INVITATION_EXPIRY_HOURS``, can be revoked, and a
  new invitation to the same address replaces (revokes) a pending one.
* Only an owner may invite an owner (the same rule as changing roles).
* Every step is audited: ``invite.create``, ``invite.accept``, ``invite.revoke``, and
  ``invite.refused`` when a known link is used after it expired, was revoked or was already used.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from omni.audit.services import AuditTarget, record
from omni.privacy.crypto.fields import blind_index
from omni.tenants.context import OrgContext
from omni.tenants.models import Invitation, Membership, Role, hash_invitation_token
from omni.tenants.services import add_member

logger = logging.getLogger(__name__)

TOKEN_BYTES = 32  # token_urlsafe(32): 43 characters, 256 bits
TOKEN_MAX_LENGTH = 100  # longer tokens in a URL are refused before hashing


class InvitationError(ValueError):
    """Why an invitation may not be created (shown to the admin as a form error)."""


@dataclass(frozen=True)
class Created:
    invitation: Invitation
    token: str  # the raw token: in the mail only, never stored
    accept_url: str


def normalize_email(email: str) -> str:
    return email.strip().lower()


def mask_email(email: str) -> str:
    """``a***@example.com``: enough to tell invitations apart in the audit log, not the address."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def _target(invitation: Invitation) -> AuditTarget:
    # The address itself stays out of the (unencrypted, hash-chained) audit log: a masked form.
    return AuditTarget("tenants.invitation", str(invitation.pk), mask_email(invitation.email))


def accept_path(token: str) -> str:
    return f"/invite/{token}/"


def accept_url(token: str, base_url: str | None = None) -> str:
    """The absolute link of ``token``: ``base_url`` (this request's site) or ``OMNI_PUBLIC_URL``."""
    base = (base_url or settings.OMNI_PUBLIC_URL).rstrip("/")
    return f"{base}{accept_path(token)}"


def pending(ctx: OrgContext) -> list[Invitation]:
    """The organization's pending invitations, newest first."""
    now = timezone.now()
    return list(
        Invitation.objects.for_org(ctx)
        .filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now)
        .select_related("invited_by")
        .order_by("-created_at")
    )


def create_invitation(
    ctx: OrgContext,
    email: str,
    role: str,
    *,
    invited_by: AbstractBaseUser | None,
    base_url: str | None = None,
) -> Created:
    """Invite ``email`` into ``ctx``'s organization as ``role`` and mail the link.

    ``InvitationError`` when the role may not be given by this actor or a current member of the
    organization already has this address (the members page shows their addresses anyway); never
    anything about accounts outside the organization.
    """
    email = normalize_email(email)
    if role not in Role.values:
        raise InvitationError(f"Unknown role {role!r}.")
    if role == Role.OWNER and ctx.role != Role.OWNER:
        raise InvitationError("Only an owner can invite an owner.")
    org = ctx.organization
    if Membership.objects.for_org(ctx).filter(user__email__iexact=email).exists():
        raise InvitationError("A member of this organization already has this email address.")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    with transaction.atomic():
        for old in Invitation.objects.for_org(ctx).filter(
            email_hash=blind_index(org.pk, email),
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=now,
        ):
            old.revoked_at = now
            old.save(update_fields=["revoked_at"])
            record("invite.revoke", ctx=ctx, target=_target(old), data={"reason": "replaced"})
        invitation = Invitation.objects.create(
            organization=org,
            email=email,
            role=role,
            token_hash=hash_invitation_token(token),
            invited_by=invited_by,
            invited_by_name=invited_by.get_username() if invited_by is not None else ctx.principal,
            expires_at=now + timedelta(hours=settings.INVITATION_EXPIRY_HOURS),
        )
        record(
            "invite.create",
            ctx=ctx,
            target=_target(invitation),
            data={"role": role, "expires_at": invitation.expires_at.isoformat()},
        )
    url = accept_url(token, base_url)
    transaction.on_commit(lambda: _send(invitation, url))
    return Created(invitation, token, url)


def _send(invitation: Invitation, url: str) -> None:
    """Mail the link (one text, whatever accounts exist). A failure is logged, never shown: the
    admin can revoke and invite again."""
    context = {
        "organization": invitation.organization,
        "role": invitation.get_role_display(),
        "inviter": invitation.invited_by_name,
        "url": url,
        "expires_at": invitation.expires_at,
    }
    subject = f"You are invited to join {invitation.organization.name} on Omni MCP"
    body = render_to_string("tenants/invitation_email.txt", context)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [invitation.email])
    except Exception:
        logger.exception("invitation %s could not be mailed", invitation.pk)


def revoke_invitation(ctx: OrgContext, invitation_id: object) -> Invitation | None:
    """Revoke the organization's pending invitation ``invitation_id``; None when there is no such
    pending invitation in this organization."""
    with transaction.atomic():
        invitation = Invitation.objects.for_org(ctx).select_for_update().filter(pk=invitation_id).first()
        if invitation is None or not invitation.is_pending:
            return None
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        record("invite.revoke", ctx=ctx, target=_target(invitation), data={"role": invitation.role})
    return invitation


def find(token: str) -> Invitation | None:
    """The invitation of a link's ``token`` (whatever its status), or None for an unknown token."""
    if not token or len(token) > TOKEN_MAX_LENGTH:
        return None
    return (
        Invitation.objects.select_related("organization")
        .filter(token_hash=hash_invitation_token(token))
        .first()
    )


def why_not(invitation: Invitation) -> str:
    """Why a link no longer works: "expired", "revoked" or "used" ("" while it is pending)."""
    status = invitation.status()
    if status == Invitation.Status.PENDING:
        return ""
    return "used" if status == Invitation.Status.ACCEPTED else str(status)


def refuse(invitation: Invitation, *, request: object = None) -> str:
    """Audit the use of a link that is no longer valid; returns why (expired, revoked, used)."""
    reason = why_not(invitation)
    record(
        "invite.refused",
        organization=invitation.organization,
        target=_target(invitation),
        data={"reason": reason},
        request=request,
    )
    return reason


def accept(token: str, user: AbstractBaseUser, *, request: object = None) -> tuple[Invitation | None, str]:
    """Accept the invitation of ``token`` as ``user``: ``(invitation, "accepted")``, or
    ``(invitation or None, why not)`` — "unknown", "expired", "revoked" or "used".

    Single use: the row is locked, so two concurrent accepts cannot both succeed. A user who is
    already a member keeps their current role.
    """
    if find(token) is None:
        return None, "unknown"
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .select_related("organization")
            .get(token_hash=hash_invitation_token(token))
        )
        if not invitation.is_pending:
            return invitation, refuse(invitation, request=request)
        membership = Membership.objects.for_org(invitation.organization).filter(user=user).first()
        if membership is None:
            membership = add_member(invitation.organization, user, invitation.role)
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        record(
            "invite.accept",
            organization=invitation.organization,
            actor=user,
            target=_target(invitation),
            data={"role": membership.role, "invited_role": invitation.role},
            request=request,
        )
    return invitation, "accepted"
