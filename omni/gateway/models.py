"""The gateway's own table: the keys it signs its requests to MCP servers with (see signing.py)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils import timezone
from encrypted_model_fields.fields import EncryptedCharField


class SigningKeyUnreadable(ImproperlyConfigured):
    """A signing secret cannot be decrypted with the configured FIELD_ENCRYPTION_KEY."""


class SigningKey(models.Model):
    """An HMAC key. The newest non-retired key signs; every non-retired key verifies, so a new key
    can be rolled out before the old one is retired (no downtime). ``key_id`` is public: it travels
    in the ``X-Omni-Signature`` header. The secret is stored encrypted."""

    key_id = models.CharField(max_length=40, unique=True)
    secret = EncryptedCharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.key_id} ({'retired' if self.retired_at else 'active'})"

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None

    def secret_bytes(self) -> bytes:
        """The decrypted secret. Refuses to hand out ciphertext under a wrong FIELD_ENCRYPTION_KEY
        (django-encrypted-model-fields then returns the stored token instead of failing)."""
        value = self.secret or ""
        if not value or (value.startswith("gAAAAA") and len(value) >= 100):
            raise SigningKeyUnreadable(
                f"signing key {self.key_id} cannot be decrypted: FIELD_ENCRYPTION_KEY changed?"
            )
        return value.encode()
