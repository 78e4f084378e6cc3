"""Test runs: every MCP operation run from the playground, the API or a scenario, with its outcome.

A run is stored whole (request, response or error, timing, validation, progress and log events), so
the history can show it, re-run it and diff two runs. The actor's username is copied so that a run
outlives a deleted user. Runs are tenant data: read them only through ``TestRun.objects.for_org``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from omni.privacy.crypto.fields import EncryptedJSONField
from omni.tenants.querysets import TenantQuerySet


class TestRun(models.Model):
    __test__ = False  # not a pytest test class despite its name

    class Source(models.TextChoices):
        PLAYGROUND = "playground", "Playground"
        API = "api", "API"
        SCENARIO = "scenario", "Scenario"

    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        ERROR = "error", "Error"
        INVALID = "invalid", "Invalid response"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        "tenants.Organization", on_delete=models.CASCADE, related_name="test_runs"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    username = models.CharField(max_length=150, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.PLAYGROUND)
    # The scenario run this step belongs to (source "scenario"); see scenario_models.py.
    scenario_run = models.ForeignKey(
        "playground.ScenarioRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="test_runs"
    )
    operation = models.CharField(max_length=64)
    # The tool or prompt name, the resource URI, or the raw method: what analytics group by.
    target = models.CharField(max_length=500, blank=True)
    # Encrypted with the organization's data key (omni.privacy.crypto); secrets are masked first.
    request = EncryptedJSONField(default=dict, blank=True)
    response = EncryptedJSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    duration_ms = models.FloatField(default=0.0)
    validation = models.JSONField(default=dict, blank=True)
    # Progress and log notifications received while the operation ran, with their timing.
    events = EncryptedJSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="pg_run_org_created"),
            models.Index(fields=["organization", "operation", "-created_at"], name="pg_run_org_op"),
            models.Index(fields=["organization", "target", "-created_at"], name="pg_run_org_target"),
            models.Index(fields=["organization", "outcome", "-created_at"], name="pg_run_org_outcome"),
            models.Index(fields=["organization", "user", "-created_at"], name="pg_run_org_user"),
        ]

    def __str__(self) -> str:
        return f"{self.operation} {self.target} ({self.outcome})".strip()

    @property
    def ok(self) -> bool:
        return self.outcome == self.Outcome.OK


# Scenario runs and uploaded scenarios live in their own module (the scenario engine's models).
from omni.playground.scenario_models import ScenarioRun, UploadedScenario  # noqa: E402

__all__ = ["ScenarioRun", "TestRun", "UploadedScenario"]
