"""Downstream server status (omni/monitoring/status/): the current state of each server connection,
its recent probe results and hourly uptime buckets.

Every row carries the connection's organization (NULL for a global connection) and is read through
``for_org`` (own rows plus global ones)."""

from __future__ import annotations

from django.db import models

from omni.tenants.querysets import GlobalTenantQuerySet

UP, DEGRADED, DOWN, UNKNOWN = "up", "degraded", "down", "unknown"
STATES = [(UP, "up"), (DEGRADED, "degraded"), (DOWN, "down"), (UNKNOWN, "unknown")]


class ServerStatus(models.Model):
    """The latest known state of one server connection (one row each, updated in place)."""

    connection = models.OneToOneField(
        "registry.ServerConnection", on_delete=models.CASCADE, related_name="status"
    )
    organization = models.ForeignKey(
        "tenants.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    state = models.CharField(max_length=10, choices=STATES, default=UNKNOWN)
    since = models.DateTimeField(null=True, blank=True)  # when the state last changed
    checked_at = models.DateTimeField(null=True, blank=True)  # last probe or passive signal
    source = models.CharField(max_length=10, default="probe")  # "probe" or "passive"
    latency_ms = models.FloatField(null=True, blank=True)
    error_category = models.CharField(max_length=40, blank=True)
    error = models.CharField(max_length=300, blank=True)
    listing_hash = models.CharField(max_length=64, blank=True)
    tool_count = models.IntegerField(null=True, blank=True)
    consecutive_failures = models.IntegerField(default=0)
    breaker_open = models.BooleanField(default=False)

    objects = GlobalTenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.connection_id}: {self.state}"


class StatusProbe(models.Model):
    """One probe result or passive transition (kept ``STATUS_RAW_RETENTION_HOURS``)."""

    connection = models.ForeignKey(
        "registry.ServerConnection", on_delete=models.CASCADE, related_name="status_probes"
    )
    organization = models.ForeignKey(
        "tenants.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    at = models.DateTimeField(db_index=True)
    state = models.CharField(max_length=10, choices=STATES)
    source = models.CharField(max_length=10, default="probe")
    latency_ms = models.FloatField(null=True, blank=True)
    error_category = models.CharField(max_length=40, blank=True)
    error = models.CharField(max_length=300, blank=True)
    listing_hash = models.CharField(max_length=64, blank=True)

    objects = GlobalTenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["connection", "at"], name="monitoring_probe_conn_at")]
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.connection_id} {self.at:%Y-%m-%d %H:%M:%S}: {self.state}"


class StatusHour(models.Model):
    """Probe counts of one connection and hour: the uptime over 24 h / 7 d / 30 d (kept 35 days)."""

    connection = models.ForeignKey(
        "registry.ServerConnection", on_delete=models.CASCADE, related_name="status_hours"
    )
    organization = models.ForeignKey(
        "tenants.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    hour = models.DateTimeField()
    probes = models.IntegerField(default=0)
    up = models.IntegerField(default=0)  # up or degraded: answering
    latency_ms_sum = models.FloatField(default=0.0)

    objects = GlobalTenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "hour"], name="monitoring_statushour_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.connection_id} {self.hour:%Y-%m-%d %H}h: {self.up}/{self.probes}"
