"""Usage of the gateway by real MCP traffic, rolled up per minute, hour and day (docs/monitoring.md,
"Usage analytics"). One row per bucket and (organization, API key, server, target, method, outcome,
error type): the number of requests, the sum of their durations and a latency histogram with the
fixed buckets of ``omni.monitoring.usage.histogram`` (columns h00..h15).

Rows are written only by the rollup task (``omni.monitoring.usage.rollup``), as upserts keyed by
the bucket and the dimensions; counts of a bucket only grow, and an upsert never lowers them.
"""

from __future__ import annotations

from django.db import models

from omni.monitoring.usage.histogram import FIELDS
from omni.tenants.querysets import TenantQuerySet

DIMENSIONS: tuple[str, ...] = (
    "organization_id",
    "api_key_id",
    "server",
    "target",
    "method",
    "outcome",
    "error_type",
)


class UsageQuerySet(TenantQuerySet):
    pass


class UsageBase(models.Model):
    bucket = models.DateTimeField(help_text="start of the minute, hour or day (UTC)")
    organization = models.ForeignKey("tenants.Organization", on_delete=models.CASCADE, related_name="+")
    # ApiKey's id (a UUID) as text, "" for another credential; not a foreign key: usage outlives keys.
    api_key_id = models.CharField(max_length=36, blank=True, default="")
    server = models.CharField(max_length=100, blank=True, default="")
    target = models.CharField(max_length=255, blank=True, default="")
    method = models.CharField(max_length=100)
    outcome = models.CharField(max_length=16)
    error_type = models.CharField(max_length=100, blank=True, default="")
    calls = models.BigIntegerField(default=0)
    duration_us = models.BigIntegerField(default=0, help_text="sum of the durations, microseconds")
    h00 = models.BigIntegerField(default=0)
    h01 = models.BigIntegerField(default=0)
    h02 = models.BigIntegerField(default=0)
    h03 = models.BigIntegerField(default=0)
    h04 = models.BigIntegerField(default=0)
    h05 = models.BigIntegerField(default=0)
    h06 = models.BigIntegerField(default=0)
    h07 = models.BigIntegerField(default=0)
    h08 = models.BigIntegerField(default=0)
    h09 = models.BigIntegerField(default=0)
    h10 = models.BigIntegerField(default=0)
    h11 = models.BigIntegerField(default=0)
    h12 = models.BigIntegerField(default=0)
    h13 = models.BigIntegerField(default=0)
    h14 = models.BigIntegerField(default=0)
    h15 = models.BigIntegerField(default=0)

    objects = UsageQuerySet.as_manager()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.method} {self.target} {self.outcome}: {self.calls}"

    def histogram(self) -> list[int]:
        return [getattr(self, name) for name in FIELDS]


def _meta(name: str) -> type:
    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "organization", *DIMENSIONS[1:]], name=f"{name}_unique_bucket"
            )
        ]
        indexes = [models.Index(fields=["organization", "bucket"], name=f"{name}_org_bucket")]

    return Meta


class UsageMinute(UsageBase):  # noqa: DJ008 (UsageBase.__str__)
    Meta = _meta("usage_minute")


class UsageHour(UsageBase):  # noqa: DJ008 (UsageBase.__str__)
    Meta = _meta("usage_hour")


class UsageDay(UsageBase):  # noqa: DJ008 (UsageBase.__str__)
    Meta = _meta("usage_day")
