"""``AccessRule``: which tools, prompts and resources a role or an API key may see and use.

Rules belong to one organization. How they are evaluated (``omni/registry/access.py``,
``docs/permissions.md``): the rules that apply to the caller (their role — API keys act with the
``member`` role — or their API key) are taken by ascending ``priority``, a ``deny`` before an
``allow`` of the same priority, older first; the first whose ``kind`` and glob ``pattern`` match the
exposed name decides. No matching rule: allowed. A denied item is hidden from lists and refused.

Saving or deleting a rule invalidates the organization's gateway catalogue after commit.
"""

from __future__ import annotations

import functools
import re
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models, transaction
from django.utils import timezone

from omni.tenants.models import Role
from omni.tenants.querysets import TenantQuerySet

CATALOGUE_KINDS = frozenset({"tools", "prompts", "resources"})
# Printable, no whitespace: names, URIs and the glob characters * ? [ ] !
_PATTERN_RE = re.compile(r"^[^\s\x00-\x1f\x7f]{1,500}$")


def validate_pattern(value: str) -> None:
    if not isinstance(value, str) or not _PATTERN_RE.match(value):
        raise ValidationError(
            "A pattern is 1–500 characters without spaces: a name, a URI or a glob like utilities__*."
        )
    if value.count("[") != value.count("]"):
        raise ValidationError("Unbalanced [ ] in the pattern.")


def _catalogue_changed(org_id: int) -> None:
    from omni.gateway.notify import registry_changed

    registry_changed(org_id, set(CATALOGUE_KINDS))


class AccessRule(models.Model):
    class SubjectType(models.TextChoices):
        ROLE = "role", "Role"
        API_KEY = "api_key", "API key"

    class Kind(models.TextChoices):
        TOOL = "tool", "Tool"
        PROMPT = "prompt", "Prompt"
        RESOURCE = "resource", "Resource"

    class Effect(models.TextChoices):
        ALLOW = "allow", "Allow"
        DENY = "deny", "Deny"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        "tenants.Organization", on_delete=models.CASCADE, related_name="access_rules"
    )
    subject_type = models.CharField(max_length=10, choices=SubjectType.choices, default=SubjectType.ROLE)
    role = models.CharField(
        max_length=10, choices=Role.choices, blank=True, help_text="API keys act with the member role."
    )
    api_key = models.ForeignKey(
        "tenants.ApiKey", null=True, blank=True, on_delete=models.CASCADE, related_name="access_rules"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    pattern = models.CharField(
        max_length=500,
        validators=[validate_pattern],
        help_text="A glob on the exposed name: utilities__*, knowledge__delete_note, memo://secret/*.",
    )
    effect = models.CharField(max_length=5, choices=Effect.choices, default=Effect.DENY)
    priority = models.PositiveIntegerField(
        default=100, validators=[MaxValueValidator(1_000_000)], help_text="Lower numbers are checked first."
    )
    description = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["priority", "created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    (models.Q(subject_type="role", api_key__isnull=True) & ~models.Q(role=""))
                    | models.Q(subject_type="api_key", api_key__isnull=False, role="")
                ),
                name="registry_accessrule_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.effect} {self.kind} {self.pattern} for {self.subject_label}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        transaction.on_commit(
            functools.partial(_catalogue_changed, self.organization_id), using=self._state.db
        )

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        org_id, using = self.organization_id, self._state.db
        result = super().delete(*args, **kwargs)
        transaction.on_commit(functools.partial(_catalogue_changed, org_id), using=using)
        return result

    def clean(self) -> None:
        super().clean()
        if self.subject_type == self.SubjectType.ROLE:
            if not self.role:
                raise ValidationError({"role": "Choose the role this rule applies to."})
            self.api_key = None
        elif self.subject_type == self.SubjectType.API_KEY:
            if self.api_key_id is None:
                raise ValidationError({"api_key": "Choose the API key this rule applies to."})
            if self.api_key.organization_id != self.organization_id:
                raise ValidationError({"api_key": "That API key belongs to another organization."})
            self.role = ""

    @property
    def subject_label(self) -> str:
        if self.subject_type == self.SubjectType.API_KEY:
            return f"key {self.api_key.prefix}" if self.api_key_id else "key ?"
        return f"role {self.role}"
