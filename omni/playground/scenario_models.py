"""Scenario runs and the scenarios an organization uploaded (imported by ``playground.models``).

A ``ScenarioRun`` keeps the scenario text it ran, the variables, the outcome and the whole report;
each of its steps is also a ``TestRun`` (source "scenario", ``scenario_run`` set), so the history
shows and compares them like any other run. Both models are tenant data: read them only through
``for_org``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from omni.privacy.crypto.fields import EncryptedJSONField
from omni.tenants.querysets import TenantQuerySet


class ScenarioRun(models.Model):
    class Trigger(models.TextChoices):
        UI = "ui", "Web UI"
        API = "api", "API"
        CLI = "cli", "Command line"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        ERROR = "error", "Error"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        "tenants.Organization", on_delete=models.CASCADE, related_name="scenario_runs"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    username = models.CharField(max_length=150, blank=True)
    trigger = models.CharField(max_length=8, choices=Trigger.choices)
    name = models.CharField(max_length=100)
    # Where the scenario came from: "shipped:notes_crud", "uploaded:<uuid>", "file:<path>", "inline".
    origin = models.CharField(max_length=300, blank=True)
    text = models.TextField(help_text="The scenario file as it ran.")
    # Variables and the report are encrypted with the organization's data key (omni.privacy.crypto).
    variables = EncryptedJSONField(default=dict, blank=True)
    stop_on_failure = models.BooleanField(default=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    total_steps = models.PositiveIntegerField(default=0)
    passed_steps = models.PositiveIntegerField(default=0)
    failed_steps = models.PositiveIntegerField(default=0)
    report = EncryptedJSONField(default=dict, blank=True)
    duration_ms = models.FloatField(default=0.0)
    started_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["organization", "-started_at"], name="pg_scenario_org_started")]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def passed(self) -> bool:
        return self.status == self.Status.PASSED


class UploadedScenario(models.Model):
    """A scenario file an organization keeps next to the shipped ones (unique name per organization)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        "tenants.Organization", on_delete=models.CASCADE, related_name="uploaded_scenarios"
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    text = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="pg_uploaded_scenario_org_name_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.organization})"
