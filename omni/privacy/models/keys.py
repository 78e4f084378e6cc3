"""Per-organization data keys for envelope encryption (see ``omni.privacy.crypto``).

A ``DataKey`` is 32 random bytes that encrypt an organization's fields (AES-256-GCM). Only its
*wrapped* form is stored: encrypted with one of the platform's master keys (``PRIVACY_MASTER_KEYS``),
whose id is kept in ``master_key_id`` so rotation knows which rows still depend on an old master
key. Destroying a key (crypto-shredding) empties ``wrapped_key`` and sets ``destroyed_at``: every
value encrypted with it, in the database and in every backup, becomes unreadable. The row stays so
that reads can say "data key destroyed" instead of "unknown key".

``organization`` is empty for the platform key, which encrypts rows that belong to no organization
(for example a dataset of a standalone analytics server whose slug names no organization here).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone


class DataKey(models.Model):
    key_id = models.CharField(max_length=32, unique=True, editable=False)
    organization = models.ForeignKey(
        "tenants.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="data_keys",
        help_text="Empty: the platform key (rows of no organization).",
    )
    wrapped_key = models.BinaryField(editable=False)
    master_key_id = models.CharField(max_length=32, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    rewrapped_at = models.DateTimeField(null=True, blank=True, editable=False)
    destroyed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "destroyed_at"], name="privacy_datakey_org_state")]
        constraints = [
            # At most one live key per organization, and one live platform key (NULL counts as 0).
            models.UniqueConstraint(
                Coalesce("organization", Value(0)),
                condition=models.Q(destroyed_at__isnull=True),
                name="privacy_datakey_one_live_per_org",
            ),
        ]

    def __str__(self) -> str:
        state = "destroyed" if self.destroyed_at else f"wrapped by {self.master_key_id}"
        return f"data key {self.key_id} ({state})"

    @property
    def destroyed(self) -> bool:
        return self.destroyed_at is not None
