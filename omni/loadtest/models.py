"""Load profiles, runs, their shards and baselines.

A ``LoadProfile`` is a YAML document (``omni/loadtest/profiles/``) kept per organization; the
shipped ones live in ``loadtests/*.yaml`` and are not rows. A ``LoadRun`` is one execution of a
profile (its validated, normalised spec is copied into the run, so editing the profile later does
not change what a run says it did); it is split into ``LoadShard``s that Celery workers (or, in
the embedded default, a thread of the web process) execute. Each shard's ``result`` follows the
shard-result contract of ``omni/loadtest/contracts.py``; the run's ``report`` is the merge of its
shards. A ``LoadBaseline`` names a run as the reference that later runs of the same profile and
target are compared with.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from omni.privacy.crypto.fields import EncryptedJSONField
from omni.tenants.querysets import TenantQuerySet


class LoadProfile(models.Model):
    organization = models.ForeignKey(
        "tenants.Organization", on_delete=models.CASCADE, related_name="load_profiles"
    )
    name = models.SlugField(max_length=100, help_text="Unique in the organization: letters, digits, - and _.")
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    source = models.TextField(help_text="The profile as YAML (docs/loadtesting.md).")
    # Celery beat: run it on this schedule (a 5-field cron expression, UTC); "" = never.
    schedule = models.CharField(max_length=100, blank=True, default="")
    schedule_enabled = models.BooleanField(default=False)
    last_scheduled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="loadprofile_org_name")]

    def __str__(self) -> str:
        return self.name


class LoadRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        COMPLETED = "completed", "completed"
        FAILED = "failed", "failed"
        CANCELLED = "cancelled", "cancelled"

    class Verdict(models.TextChoices):
        NONE = "", "—"
        PASSED = "passed", "passed"
        REGRESSED = "regressed", "regression"
        FAILED_THRESHOLDS = "thresholds", "thresholds failed"

    FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        "tenants.Organization", on_delete=models.CASCADE, related_name="load_runs"
    )
    profile = models.ForeignKey(
        LoadProfile, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    profile_name = models.CharField(max_length=100, help_text="The profile's name (also for shipped ones).")
    spec = models.JSONField(help_text="The validated, normalised profile this run executed.")
    # "gateway" (this organization's /mcp, the whole stack) or "server:<name>" (a registered server
    # directly); with a direct target measured too, the report holds the gateway's overhead.
    target = models.CharField(max_length=150, default="gateway")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    cancel_requested = models.BooleanField(default=False)
    trigger = models.CharField(max_length=20, default="ui", help_text="ui | command | schedule | api")
    raised_limits = models.BooleanField(
        default=False, help_text="A platform operator lifted the organization's bounds for this run."
    )
    shards_total = models.PositiveIntegerField(default=0)
    shards_done = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True, help_text="The merged report (contracts.py).")
    comparison = models.JSONField(default=dict, blank=True, help_text="Against the baseline, when compared.")
    verdict = models.CharField(max_length=20, choices=Verdict.choices, default=Verdict.NONE, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["organization", "profile_name", "target", "-created_at"], name="loadrun_trend"
            ),
            models.Index(fields=["status"], name="loadrun_status"),
        ]

    def __str__(self) -> str:
        return f"{self.profile_name} {self.uuid}"

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED


class LoadShard(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        COMPLETED = "completed", "completed"
        FAILED = "failed", "failed"
        CANCELLED = "cancelled", "cancelled"

    run = models.ForeignKey(LoadRun, on_delete=models.CASCADE, related_name="shards")
    organization = models.ForeignKey("tenants.Organization", on_delete=models.CASCADE, related_name="+")
    index = models.PositiveIntegerField()
    # "main": the run's target; "direct": the same load sent to the server alone right after
    # (runs that report the gateway's overhead). Shards of one phase run at the same time.
    phase = models.CharField(max_length=20, default="main")
    # Holds the endpoints' credentials (the run's own short-lived API keys): sealed with the
    # organization's data key.
    spec = EncryptedJSONField(default=dict, help_text="The shard's part of the run (contracts.ShardSpec).")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    worker = models.CharField(max_length=200, blank=True, help_text="hostname:pid of who ran it")
    result = models.JSONField(default=dict, blank=True, help_text="contracts.ShardResult")
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["run", "phase", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "phase", "index"], name="loadshard_run_phase_index")
        ]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.phase}/{self.index}"


class LoadBaseline(models.Model):
    """A run named as the reference for its profile and target."""

    organization = models.ForeignKey(
        "tenants.Organization", on_delete=models.CASCADE, related_name="load_baselines"
    )
    name = models.SlugField(max_length=100)
    profile_name = models.CharField(max_length=100)
    target = models.CharField(max_length=150, default="gateway")
    run = models.ForeignKey(LoadRun, on_delete=models.CASCADE, related_name="baselines")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="loadbaseline_org_name")]

    def __str__(self) -> str:
        return self.name
