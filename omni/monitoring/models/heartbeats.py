"""Heartbeats of the platform's processes in the embedded default (no ``REDIS_URL``).

With Redis, heartbeats are hashes with a TTL (omni/monitoring/health/heartbeats.py) and this table
stays empty. Without it, each process (in practice the one web process and its in-process
scheduler) upserts one row per beat; rows that missed ``HEALTH_HEARTBEAT_MISSES`` beats are shown
as gone and deleted later by the ``health_tick`` task. Platform data, not tenant data: no
organization.
"""

from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    # "web", "worker", "beat", or "tick" (the last run of the health_tick task: beat's last tick).
    kind = models.CharField(max_length=16)
    host = models.CharField(max_length=255)
    pid = models.IntegerField()
    # kind:host:pid, one row per process.
    key = models.CharField(max_length=300, unique=True)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)
    # Versions and the small payload (requests served, in flight, tick times …).
    info = models.JSONField(default=dict)

    class Meta:
        ordering = ["kind", "host", "pid"]

    def __str__(self) -> str:
        return self.key
