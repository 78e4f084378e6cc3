"""Retention: each organization's periods and legal hold, and the record of every cleanup run.

The data classes themselves (audit events, test runs, …) and their platform defaults and bounds
live in ``omni.privacy.retention.registry`` and settings; these rows hold only what changes per
organization and what happened.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from omni.tenants.querysets import TenantQuerySet


class OrgRetention(models.Model):
    """An organization's own retention periods (``days``: class name → days, only the classes it
    changed) and its legal hold. No row: platform defaults, no hold."""

    organization = models.OneToOneField(
        "tenants.Organization", on_delete=models.CASCADE, related_name="retention"
    )
    days = models.JSONField(default=dict, blank=True)
    legal_hold = models.BooleanField(default=False)
    legal_hold_reason = models.CharField(max_length=500, blank=True)
    legal_hold_since = models.DateTimeField(null=True, blank=True)
    legal_hold_by = models.CharField(max_length=150, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = "organization retention"

    def __str__(self) -> str:
        hold = " (legal hold)" if self.legal_hold else ""
        return f"retention of {self.organization_id}{hold}"


class RetentionRun(models.Model):
    """One data class cleaned for one organization (or platform-wide: no organization) by one run.

    ``run_id`` groups the rows of one invocation (the beat task, the command). ``deleted`` is what
    was removed, or with ``dry_run`` what would have been.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        HELD = "held", "Legal hold: nothing deleted"
        PARTIAL = "partial", "Stopped at the batch limit (continues next run)"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        BEAT = "beat", "Scheduled"
        COMMAND = "command", "Command line"

    run_id = models.UUIDField(default=uuid.uuid4, db_index=True, editable=False)
    class_name = models.CharField(max_length=64)
    organization = models.ForeignKey(
        "tenants.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="retention_runs",
    )
    org_slug = models.CharField(max_length=50, blank=True)
    trigger = models.CharField(max_length=8, choices=Trigger.choices, default=Trigger.BEAT)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    cutoff = models.DateTimeField(null=True, blank=True)
    days = models.PositiveIntegerField(null=True, blank=True)
    deleted = models.PositiveBigIntegerField(default=0)
    batches = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["organization", "-started_at"], name="privacy_ret_run_org")]

    def __str__(self) -> str:
        mode = " (dry run)" if self.dry_run else ""
        return f"{self.class_name} {self.org_slug or 'platform'}: {self.deleted}{mode}"
