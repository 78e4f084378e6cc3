"""Organizations (tenants), who belongs to them, and their API keys."""

from __future__ import annotations

import hashlib
import secrets
import string
import uuid
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.utils import timezone

# Encryption at rest (leaf module: Django and `cryptography` only, keys found at run time).
from omni.privacy.crypto.fields import BlindIndexField, EncryptedTextField
from omni.tenants.changes import api_key_ended, credentials_changed
from omni.tenants.permissions import API_KEY_SCOPES
from omni.tenants.querysets import TenantQuerySet

API_KEY_PREFIX_CHARS = string.ascii_lowercase + string.digits
API_KEY_PREFIX_LENGTH = 8  # random characters after "omni_"
API_KEY_SECRET_BYTES = 32  # token_urlsafe(32) is 43 characters


def default_scopes() -> list[str]:
    return list(API_KEY_SCOPES)


def validate_scopes(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Scopes must be a list of strings.")
    unknown = sorted(set(value) - set(API_KEY_SCOPES))
    if unknown:
        raise ValidationError(
            f"Unknown scope(s): {', '.join(unknown)}. Allowed: {', '.join(API_KEY_SCOPES)}."
        )


class Organization(models.Model):
    """A tenant. ``slug`` is its public id (URLs, logs); the integer pk never leaves the server."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    settings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        credentials_changed()

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        credentials_changed()
        return result


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["organization__slug", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="tenants_membership_user_org_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


def hash_api_key(raw: str) -> str:
    """sha256 hex of the whole raw key. Keys carry 256 bits of randomness: a fast hash is right."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(models.Model):
    """An organization's credential for MCP clients. Only a hash of the key is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=20, unique=True, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=default_scopes, validators=[validate_scopes])
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Set only by the load tester for the short-lived keys of a run a platform operator lifted
    # the limits of (omni/loadtest/credentials.py): the gateway's per-minute MCP limits skip it.
    rate_limit_exempt = models.BooleanField(default=False, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["organization__slug", "-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        credentials_changed()
        if self.revoked_at is not None:
            api_key_ended(self.pk)

    def delete(self, *args, **kwargs):
        pk = self.pk
        result = super().delete(*args, **kwargs)
        credentials_changed()
        api_key_ended(pk)
        return result

    def generate_secret(self) -> str:
        """Give this (unsaved) key a fresh prefix and hash; return the raw key, which is not kept."""
        if self.key_hash:
            raise ValueError("this API key already has a secret")
        random_part = "".join(secrets.choice(API_KEY_PREFIX_CHARS) for _ in range(API_KEY_PREFIX_LENGTH))
        self.prefix = f"omni_{random_part}"
        raw = f"{self.prefix}_{secrets.token_urlsafe(API_KEY_SECRET_BYTES)}"
        self.key_hash = hash_api_key(raw)
        return raw

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    def is_active(self, now: datetime | None = None) -> bool:
        return not self.is_revoked and not self.is_expired(now)


Role = Membership.Role


def hash_invitation_token(raw: str) -> str:
    """sha256 hex of an invitation token (256 random bits: a fast hash is right, as for API keys)."""
    return hashlib.sha256(raw.encode()).hexdigest()


class Invitation(models.Model):
    """An invitation to join an organization with a role, sent by email as a one-time link.

    Only a hash of the link's token is stored. An invitation is *pending* until it is accepted
    (once), revoked by an admin, or past ``expires_at``; ``omni.tenants.invitations`` holds the rules.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    # Encrypted with the organization's data key; looked up by its keyed hash (blind index).
    email = EncryptedTextField(validators=[validate_email])
    email_hash = BlindIndexField(source="email")
    role = models.CharField(max_length=10, choices=Membership.Role.choices, default=Membership.Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    invited_by_name = models.CharField(max_length=150, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True, editable=False)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["organization__slug", "-created_at"]
        indexes = [models.Index(fields=["organization", "email_hash"], name="tenants_invite_org_email")]

    def __str__(self) -> str:
        return f"{self.email} → {self.organization} ({self.role})"

    def status(self, now: datetime | None = None) -> str:
        if self.accepted_at is not None:
            return self.Status.ACCEPTED
        if self.revoked_at is not None:
            return self.Status.REVOKED
        if self.expires_at <= (now or timezone.now()):
            return self.Status.EXPIRED
        return self.Status.PENDING

    @property
    def is_pending(self) -> bool:
        return self.status() == self.Status.PENDING
