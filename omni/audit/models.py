"""The audit log: append-only, hash-chained ``AuditEvent`` rows.

Every row carries ``seq`` (one global, gap-free sequence), the hash of the row before it
(``prev_hash``) and its own ``hash`` (sha256 over a canonical JSON of its fields and ``prev_hash``,
see ``omni.audit.chain``). Rows are only ever inserted, by ``omni.audit.services``; Python refuses
to change or delete them, and on PostgreSQL a trigger refuses it in SQL too (migration 0002). The
one change allowed is the ``SET NULL`` of ``organization`` when an organization is deleted: the
slug is copied into ``org_slug`` (and hashed), so the row keeps its meaning and its hash.

Actors are copied (type, id, name) rather than referenced, so rows outlive deleted users and keys.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.utils import timezone

from omni.tenants.querysets import TenantQuerySet

GENESIS_HASH = "0" * 64


class AuditImmutableError(Exception):
    """Somebody tried to change or delete an audit event."""


class AuditQuerySet(TenantQuerySet):
    """Tenant-scoped reads (``for_org``); every bulk write except detaching a deleted org refuses."""

    def update(self, **kwargs: Any) -> int:
        # Deleting an organization sets organization to NULL on its events (on_delete=SET_NULL);
        # that changes no hashed field, so it is the one update allowed.
        if set(kwargs) <= {"organization", "organization_id"} and all(v is None for v in kwargs.values()):
            return super().update(**kwargs)
        raise AuditImmutableError("audit events cannot be changed")

    update.alters_data = True

    def erase_fields(self, **values: Any) -> int:
        """The update that erasure makes (``omni.audit.erasure``): personal fields to their markers
        and salts dropped. Nothing else; the PostgreSQL trigger enforces the same rule."""
        allowed = {"actor_name", "target_id", "target_repr", "ip", "personal_salts"}
        if not set(values) <= allowed:
            raise AuditImmutableError("only personal fields of an audit event can be erased")
        return super().update(**values)

    erase_fields.alters_data = True

    def delete(self) -> Any:
        raise AuditImmutableError("audit events cannot be deleted")

    delete.alters_data = True
    delete.queryset_only = True

    def _raw_delete(self, using: str) -> int:
        raise AuditImmutableError("audit events cannot be deleted")

    def bulk_update(self, objs: Any, fields: Any, *args: Any, **kwargs: Any) -> int:
        raise AuditImmutableError("audit events cannot be changed")

    def update_or_create(self, *args: Any, **kwargs: Any) -> Any:
        raise AuditImmutableError("audit events are written by omni.audit.services only")


class AuditEvent(models.Model):
    class ActorType(models.TextChoices):
        USER = "user", "User"
        API_KEY = "api_key", "API key"
        SYSTEM = "system", "System"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    seq = models.BigIntegerField(unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    organization = models.ForeignKey(
        "tenants.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
        help_text="Empty: a global event (logins, platform changes), visible to superusers only.",
    )
    org_slug = models.CharField(max_length=50, blank=True)
    actor_type = models.CharField(max_length=10, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_name = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.CharField(max_length=45, blank=True)
    data = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    # Events that came through the spool (omni.audit.spool) are numbered where they happened: the
    # process that produced them (``source``) and its own counter (``source_seq``, from 1). Both are
    # hashed when set; ``verify_audit`` finds the numbers that never arrived. Empty for events
    # written directly (``record``).
    source = models.CharField(max_length=100, blank=True, default="", editable=False)
    source_seq = models.BigIntegerField(null=True, blank=True, editable=False)
    # Chain version 2 (omni.audit.chain): the personal fields (actor_name, target_id, target_repr,
    # ip) are hashed through ``personal`` — a salted sha256 per field — instead of their values. The
    # salts (``personal_salts``, not hashed) are dropped when the person is erased and the values
    # replaced by ERASED markers: the hash still verifies, and nothing links the row to the person.
    # Version 1 rows (written before) hash the values themselves.
    chain_version = models.PositiveSmallIntegerField(default=1, editable=False)
    personal = models.JSONField(default=dict, blank=True, editable=False)
    personal_salts = models.JSONField(default=dict, blank=True, editable=False)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        # Django's collector (SET_NULL on organization delete) goes through the base manager:
        # make it this one, so its bulk writes meet the same refusals.
        base_manager_name = "objects"
        indexes = [
            models.Index(fields=["organization", "-seq"], name="audit_event_org_seq"),
            models.Index(fields=["action", "-seq"], name="audit_event_action_seq"),
        ]
        constraints = [
            # An event delivered twice by the spool is stored once (public_id is unique too).
            models.UniqueConstraint(
                fields=["source", "source_seq"],
                condition=models.Q(source_seq__isnull=False),
                name="audit_event_source_seq_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_name or self.actor_type}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditImmutableError("audit events cannot be changed")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AuditImmutableError("audit events cannot be deleted")

    @property
    def outcome(self) -> str:
        value = self.data.get("outcome") if isinstance(self.data, dict) else None
        return value if isinstance(value, str) else ""


class AuditChainHead(models.Model):
    """One row (pk 1): the last ``seq`` and ``hash`` of the chain. Appenders lock it
    (``SELECT … FOR UPDATE``) so that writers in every process form one chain; ``verify_audit``
    compares it with the last event, which detects a deleted tail."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        verbose_name = "audit chain head"

    def __str__(self) -> str:
        return f"audit chain at #{self.last_seq}"


class AuditSource(models.Model):
    """One process that spooled events: how far its counter went (``spooled``, reported by the
    process itself while it runs) and how many of its events were written or dead-lettered (added
    per batch by whichever writer wrote them). ``verify_audit`` compares these with the table."""

    name = models.CharField(max_length=100, unique=True)
    spooled = models.BigIntegerField(default=0)
    written = models.BigIntegerField(default=0)
    dead = models.BigIntegerField(default=0)
    first_seen = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}: spooled {self.spooled}, written {self.written}, dead {self.dead}"


class AuditDeadLetter(models.Model):
    """A spooled event that could never be written (malformed, or refused by the database every
    time): kept here with its raw payload and the error, logged at ERROR and counted, never
    silently dropped. Not part of the hash chain."""

    source = models.CharField(max_length=100, blank=True)
    source_seq = models.BigIntegerField(null=True, blank=True)
    spool_id = models.CharField(max_length=200, blank=True)
    payload = models.TextField()
    error = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_seq"],
                condition=models.Q(source_seq__isnull=False),
                name="audit_deadletter_source_seq_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"dead letter {self.source}#{self.source_seq}: {self.error[:80]}"
