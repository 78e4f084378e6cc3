"""Alerting: rules, incidents, notification channels, the delivery log and maintenance windows.

A rule belongs to one organization, or to nobody (``organization`` NULL): a platform operator's
global rule over every organization's traffic. Incidents, channels and maintenance windows copy the
organization of what they belong to, so every read goes through ``for_org``/``owned_by`` (or
``global_only`` for the operators' pages). The evaluation and delivery logic is in
``omni/monitoring/alerts/``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models
from django.utils import timezone
from encrypted_model_fields.fields import EncryptedCharField

from omni.privacy.crypto.fields import EncryptedJSONField, EncryptedTextField
from omni.tenants.querysets import TenantQuerySet


class Severity(models.TextChoices):
    INFO = "info", "info"
    WARNING = "warning", "warning"
    CRITICAL = "critical", "critical"


class NotificationChannel(models.Model):
    """Where incidents are sent: email addresses, a signed JSON webhook, or a Slack-compatible one."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook (JSON, HMAC-signed)"
        SLACK = "slack", "Slack-compatible webhook"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        "tenants.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="alert_channels"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Personal data and (a Slack URL is its own credential) a secret: sealed with the organization's
    # data key, or the platform key for a global channel. Never filtered on.
    emails = EncryptedJSONField(default=list, blank=True, help_text="Email: the recipients.")
    url = EncryptedTextField(
        blank=True, validators=[URLValidator()], help_text="Webhook / Slack: where to POST."
    )
    secret = EncryptedCharField(
        max_length=500, blank=True, default="", help_text="Webhook: the HMAC-SHA256 key (stored encrypted)."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        app_label = "monitoring"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def secret_value(self) -> str:
        """The decrypted secret; refuses to hand out ciphertext under a wrong FIELD_ENCRYPTION_KEY."""
        value = self.secret or ""
        if value.startswith("gAAAAA") and len(value) >= 100:
            raise ValueError(
                f"the secret of channel {self.name!r} cannot be decrypted: FIELD_ENCRYPTION_KEY changed?"
            )
        return value


class AlertRule(models.Model):
    """A condition over a window (see ``omni.monitoring.alerts.conditions``), a threshold, a "for"
    duration against flapping, a severity and the channels to notify."""

    class Kind(models.TextChoices):
        ERROR_RATE = "error_rate", "Error rate (%)"
        P95_LATENCY = "p95_latency", "p95 latency (ms)"
        CALLS = "calls", "Calls"
        REFUSALS = "refusals", "Rate-limit refusals"
        SERVER_DOWN = "server_down", "Server down (minutes)"
        PINS_HELD = "pins_held", "Tool definition changes held back"
        AUDIT_CHAIN = "audit_chain", "Audit chain verification failing"
        # Opened and resolved by load-test runs (omni.loadtest.analysis.alerts), not by evaluation:
        # the rule routes them to its channels with its severity.
        LOAD_REGRESSION = "load_regression", "Load test regression or failed thresholds"

    class Comparison(models.TextChoices):
        GT = "gt", ">"
        GTE = "gte", "≥"
        LT = "lt", "<"
        LTE = "lte", "≤"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        "tenants.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Scope and window: {"window_minutes": 5, "server": "", "tool": "", "api_key": ""}.
    params = models.JSONField(default=dict, blank=True)
    comparison = models.CharField(max_length=3, choices=Comparison.choices, default=Comparison.GT)
    threshold = models.FloatField(default=0.0)
    for_seconds = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(7 * 86400)], help_text="Fire only after it held this long."
    )
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    enabled = models.BooleanField(default=True)
    channels = models.ManyToManyField(NotificationChannel, blank=True, related_name="rules")
    # Evaluation state: since when the condition holds (the "for" clock), the last evaluation.
    pending_since = models.DateTimeField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    last_value = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        app_label = "monitoring"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def dedupe_key(self) -> str:
        """One open incident per firing rule."""
        return f"rule:{self.uuid}"

    @property
    def window_minutes(self) -> int:
        return int((self.params or {}).get("window_minutes") or 5)

    @property
    def scope_text(self) -> str:
        parts = [
            f"{name} {value}"
            for name in ("server", "tool", "api_key")
            if (value := (self.params or {}).get(name))
        ]
        return ", ".join(parts) or "everything"


class Incident(models.Model):
    class State(models.TextChoices):
        OPEN = "open", "open"
        ACKNOWLEDGED = "acknowledged", "acknowledged"
        RESOLVED = "resolved", "resolved"

    ACTIVE = (State.OPEN, State.ACKNOWLEDGED)

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        "tenants.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="incidents"
    )
    rule = models.ForeignKey(AlertRule, null=True, on_delete=models.SET_NULL, related_name="incidents")
    rule_name = models.CharField(max_length=100)  # copied: the incident outlives its rule
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    state = models.CharField(max_length=20, choices=State.choices, default=State.OPEN)
    dedupe_key = models.CharField(max_length=100)
    title = models.CharField(max_length=300)
    evidence = models.JSONField(default=dict, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.CharField(max_length=200, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        app_label = "monitoring"
        ordering = ["-opened_at"]
        constraints = [
            # Two evaluators racing on the same firing rule cannot both open an incident.
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=models.Q(state__in=["open", "acknowledged"]),
                name="one_active_incident_per_dedupe_key",
            )
        ]
        indexes = [models.Index(fields=["organization", "state", "-opened_at"], name="incident_org_state")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE


class Delivery(models.Model):
    """One attempt to send one event of an incident (or a test) to one channel."""

    class Status(models.TextChoices):
        SENT = "sent", "sent"
        FAILED = "failed", "failed, will retry"
        GAVE_UP = "gave_up", "failed, gave up"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        "tenants.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    channel = models.ForeignKey(
        NotificationChannel, null=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    channel_name = models.CharField(max_length=100)
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=20)  # opened, acknowledged, resolved, test
    attempt = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    status = models.CharField(max_length=10, choices=Status.choices)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        app_label = "monitoring"
        ordering = ["created_at", "attempt"]

    def __str__(self) -> str:
        return f"{self.event} → {self.channel_name} #{self.attempt}: {self.status}"


class MaintenanceWindow(models.Model):
    """Mutes a rule, or every rule about a server connection, between two times."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        "tenants.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(
        "registry.ServerConnection", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        app_label = "monitoring"
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="maintenance_ends_after_start"
            ),
            models.CheckConstraint(
                condition=models.Q(rule__isnull=False) | models.Q(connection__isnull=False),
                name="maintenance_mutes_something",
            ),
        ]

    def __str__(self) -> str:
        what = self.rule.name if self.rule_id else self.connection.name
        return f"{what}: {self.starts_at:%Y-%m-%d %H:%M} – {self.ends_at:%Y-%m-%d %H:%M}"

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.starts_at <= now < self.ends_at
