"""The register of data-subject requests (GDPR articles 15, 17 and 20): exports and erasures of a
person or of an organization, with their state and the 30-day due date.

A row outlives its subject: after an erasure ``user``/``organization`` become NULL and the row
keeps only ``subject_label`` ("user #12", "org acme") — no name, no email. Export archives are kept
here (``archive``, encrypted: the organization's data key for an organization export, the platform
key for a person's) until they are downloaded once or their link expires, then cleared.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from omni.privacy.crypto.fields import EncryptedBinaryField

DUE_DAYS = 30


class DataSubjectRequest(models.Model):
    class Kind(models.TextChoices):
        EXPORT = "export", "Export"
        ERASURE = "erasure", "Erasure"

    class SubjectType(models.TextChoices):
        USER = "user", "User"
        ORGANIZATION = "organization", "Organization"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"  # an erasure in its grace period, or an export queued
        RUNNING = "running", "Running"
        READY = "ready", "Ready to download"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Link expired"
        FAILED = "failed", "Failed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    subject_type = models.CharField(max_length=12, choices=SubjectType.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    organization = models.ForeignKey(
        "tenants.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject_label = models.CharField(max_length=100)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    via = models.CharField(max_length=10, default="ui")  # "ui" or "command"
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    requested_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField(blank=True, help_text="Requested + 30 days (set on creation).")
    # Erasure: when the grace period ends and the task carries it out.
    scheduled_for = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Export: the zip (until downloaded or expired), and its one-time link.
    # Sealed with the organization's data key (an organization export) or the platform key.
    archive = EncryptedBinaryField(null=True, blank=True)
    archive_name = models.CharField(max_length=200, blank=True)
    archive_bytes = models.BigIntegerField(default=0)
    link_nonce = models.CharField(max_length=64, blank=True, editable=False)
    link_expires_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["state", "scheduled_for"], name="privacy_dsr_state_due"),
            models.Index(fields=["organization", "-requested_at"], name="privacy_dsr_org"),
            models.Index(fields=["user", "-requested_at"], name="privacy_dsr_user"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.subject_label} ({self.state})"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.due_at is None:
            self.due_at = self.requested_at + timedelta(days=DUE_DAYS)
        super().save(*args, **kwargs)

    @property
    def overdue(self) -> bool:
        open_states = {self.State.PENDING, self.State.RUNNING}
        return self.state in open_states and self.due_at < timezone.now()
