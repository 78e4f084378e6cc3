"""The database-driven registry: prompts, resources, resource templates and MCP server connections.

A row with ``organization`` NULL is global (every organization sees it); an organization's row
overrides a global row with the same key (``override_field``). Every change reaches the gateway
after commit through ``omni.gateway.notify.registry_changed`` — sent explicitly by ``save()``,
``delete()`` and the bulk methods of ``RegistryQuerySet``, never by signal handlers. Only the
cascade of an organization's deletion skips them: use ``tenants.services.delete_organization``.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models, transaction
from encrypted_model_fields.fields import EncryptedCharField

from omni.registry import validators as v
from omni.registry.templating import UriTemplateError, placeholders, uri_variables
from omni.tenants.querysets import GlobalTenantQuerySet

# Largest resource content (text encoded as UTF-8, or blob) the registry accepts.
RESOURCE_MAX_BYTES: int = getattr(settings, "REGISTRY_RESOURCE_MAX_BYTES", 1024 * 1024)


def _registry_changed(org_id: int | None, kinds: frozenset[str]) -> None:
    from omni.gateway.notify import registry_changed

    registry_changed(org_id, set(kinds))


def schedule_registry_changed(org_ids: Iterable[int | None], kinds: frozenset[str], using: str) -> None:
    """After the current transaction commits, tell the gateway that these catalogues changed."""
    for org_id in sorted(set(org_ids), key=lambda pk: -1 if pk is None else pk):
        transaction.on_commit(functools.partial(_registry_changed, org_id, kinds), using=using)


class RegistryQuerySet(GlobalTenantQuerySet):
    """Bulk writes notify like ``save()``/``delete()`` do, for every organization they touch."""

    def _org_ids(self) -> set[int | None]:
        return set(self.order_by().values_list("organization_id", flat=True).distinct())

    def _notify(self, org_ids: Iterable[int | None]) -> None:
        schedule_registry_changed(org_ids, self.model.notify_kinds, self.db)

    def delete(self) -> tuple[int, dict[str, int]]:
        from omni.audit import hooks as audit

        org_ids = self._org_ids()
        rows = audit.registry_rows(self)
        result = super().delete()
        if result[0]:
            self._notify(org_ids)
            audit.registry_bulk_deleted(rows)
        return result

    delete.alters_data = True
    delete.queryset_only = True

    def update(self, **kwargs: Any) -> int:
        from omni.audit import hooks as audit

        org_ids = self._org_ids()
        for field in ("organization", "organization_id"):
            if field in kwargs:
                target = kwargs[field]
                org_ids.add(getattr(target, "pk", target))
        before = audit.registry_rows(self)
        rows = super().update(**kwargs)
        if rows:
            self._notify(org_ids)
            audit.registry_bulk_updated(before)
        return rows

    update.alters_data = True

    def bulk_create(self, objs: Iterable[models.Model], *args: Any, **kwargs: Any) -> list[models.Model]:
        created = super().bulk_create(objs, *args, **kwargs)
        if created:
            self._notify(obj.organization_id for obj in created)
        return created

    def bulk_update(self, objs: Iterable[models.Model], fields: Any, *args: Any, **kwargs: Any) -> int:
        objs = list(objs)
        pks = [obj.pk for obj in objs]
        org_ids = self.filter(pk__in=pks)._org_ids() | {obj.organization_id for obj in objs}
        rows = super().bulk_update(objs, fields, *args, **kwargs)
        if rows:
            self._notify(org_ids)
        return rows


class RegistryItem(models.Model):
    """What every registry model shares: tenancy, a public uuid, timestamps, change notification."""

    notify_kinds: ClassVar[frozenset[str]] = frozenset()
    override_field: ClassVar[str] = "name"

    organization = models.ForeignKey(
        "tenants.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="%(class)ss",
        help_text="Empty: a global item that every organization sees (unless it has its own).",
    )
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RegistryQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        from omni.audit import hooks as audit

        before = audit.registry_before(self)  # audit.registry.* with before/after, after commit
        super().save(*args, **kwargs)
        org_ids = {self.organization_id}
        if hasattr(self, "_loaded_org_id"):
            org_ids.add(self._loaded_org_id)  # moved between organizations: both catalogues change
        self._loaded_org_id = self.organization_id
        schedule_registry_changed(org_ids, self.notify_kinds, self._state.db)
        audit.registry_saved(self, before)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        from omni.audit import hooks as audit

        before = audit.snapshot(self)
        org_id, using = self.organization_id, self._state.db
        result = super().delete(*args, **kwargs)
        schedule_registry_changed({org_id}, self.notify_kinds, using)
        audit.registry_deleted(self, before)
        return result

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> RegistryItem:
        instance = super().from_db(db, field_names, values)
        if "organization_id" in instance.__dict__:  # not deferred
            instance._loaded_org_id = instance.organization_id
        return instance

    @property
    def is_global(self) -> bool:
        return self.organization_id is None

    @property
    def override_key(self) -> str:
        return getattr(self, self.override_field)


def _unique_per_org(model: str, field: str) -> list[models.UniqueConstraint]:
    """Unique per organization, and among global rows (where NULL organizations never collide)."""
    return [
        models.UniqueConstraint(fields=["organization", field], name=f"registry_{model}_org_{field}_uniq"),
        models.UniqueConstraint(
            fields=[field],
            condition=models.Q(organization__isnull=True),
            name=f"registry_{model}_global_{field}_uniq",
        ),
    ]


class Prompt(RegistryItem):
    notify_kinds = frozenset({"prompts"})

    name = models.CharField(max_length=100, validators=[v.validate_item_name])
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    arguments = models.JSONField(
        default=list,
        blank=True,
        validators=[v.validate_prompt_arguments],
        help_text='[{"name": "code", "description": "…", "required": true}]',
    )
    messages = models.JSONField(
        default=list,
        validators=[v.validate_prompt_messages],
        help_text='[{"role": "user", "content": "Review this:\\n{code}"}] — {name} inserts an argument.',
    )

    class Meta:
        ordering = ["name"]
        constraints = _unique_per_org("prompt", "name")

    def __str__(self) -> str:
        return self.name if self.is_global else f"{self.name} ({self.organization})"

    def argument_names(self) -> list[str]:
        return [arg["name"] for arg in self.arguments if isinstance(arg, dict) and "name" in arg]

    def clean(self) -> None:
        super().clean()
        try:
            v.validate_prompt_arguments(self.arguments)
            v.validate_prompt_messages(self.messages)
        except ValidationError:
            return  # reported by the field validators
        declared = set(self.argument_names())
        used = {name for msg in self.messages for name in placeholders(msg["content"])}
        undeclared = sorted(used - declared)
        if undeclared:
            raise ValidationError(
                {"messages": f"Placeholder(s) without an argument: {', '.join(undeclared)}."}
            )


class Resource(RegistryItem):
    notify_kinds = frozenset({"resources"})
    override_field = "uri"

    uri = models.CharField(max_length=500, validators=[v.validate_uri])
    name = models.CharField(max_length=200)
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    mime_type = models.CharField(max_length=100, default="text/plain", validators=[v.validate_mime_type])
    text = models.TextField(blank=True)
    blob = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["uri"]
        constraints = [
            *_unique_per_org("resource", "uri"),
            models.CheckConstraint(
                condition=(models.Q(blob__isnull=True) & ~models.Q(text=""))
                | (models.Q(blob__isnull=False) & models.Q(text="")),
                name="registry_resource_text_xor_blob",
            ),
        ]

    def __str__(self) -> str:
        return self.uri if self.is_global else f"{self.uri} ({self.organization})"

    @property
    def is_binary(self) -> bool:
        return self.blob is not None

    def content_bytes(self) -> bytes:
        """The content as bytes (the blob, or the text encoded as UTF-8)."""
        return bytes(self.blob) if self.blob is not None else self.text.encode()

    @property
    def size(self) -> int:
        return len(self.content_bytes())

    def clean(self) -> None:
        super().clean()
        if (self.blob is None) == (self.text == ""):
            raise ValidationError("A resource has exactly one of text or binary content.")
        if self.size > RESOURCE_MAX_BYTES:
            raise ValidationError(f"The content is {self.size} bytes; the limit is {RESOURCE_MAX_BYTES}.")


class ResourceTemplate(RegistryItem):
    notify_kinds = frozenset({"resources"})

    uri_template = models.CharField(
        max_length=500, help_text="RFC 6570 levels 1–2, e.g. notes://{topic}/summary or docs://{+path}."
    )
    name = models.CharField(max_length=100, validators=[v.validate_item_name])
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    mime_type = models.CharField(max_length=100, default="text/plain", validators=[v.validate_mime_type])
    text_template = models.TextField(help_text="The content; {variable} inserts a URI variable.")

    class Meta:
        ordering = ["name"]
        constraints = _unique_per_org("resourcetemplate", "name")

    def __str__(self) -> str:
        return self.name if self.is_global else f"{self.name} ({self.organization})"

    def variables(self) -> list[str]:
        return uri_variables(self.uri_template)

    def clean(self) -> None:
        super().clean()
        try:
            names = self.variables()
        except UriTemplateError as exc:
            raise ValidationError({"uri_template": str(exc)}) from None
        if not v.URI_SCHEME_RE.match(self.uri_template):
            raise ValidationError({"uri_template": "The template must start with a URI scheme."})
        if not names:
            raise ValidationError({"uri_template": "A template needs at least one {variable}."})
        unknown = sorted(set(placeholders(self.text_template)) - set(names))
        if unknown:
            raise ValidationError(
                {"text_template": f"Placeholder(s) that are not URI variables: {', '.join(unknown)}."}
            )


class CredentialUnreadable(ImproperlyConfigured):
    """A stored credential cannot be decrypted with the configured FIELD_ENCRYPTION_KEY."""


class ServerConnection(RegistryItem):
    """A downstream MCP server whose tools the gateway offers, namespaced ``<name>__<tool>``."""

    class Transport(models.TextChoices):
        INPROCESS = "inprocess", "In-process (built-in server)"
        STREAMABLE_HTTP = "streamable_http", "Streamable HTTP"
        SSE = "sse", "HTTP + SSE (legacy)"
        STDIO = "stdio", "stdio (local command)"

    notify_kinds = frozenset({"tools"})

    name = models.CharField(max_length=40, validators=[v.validate_server_name])
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    transport = models.CharField(max_length=20, choices=Transport.choices, default=Transport.STREAMABLE_HTTP)
    target = models.CharField(max_length=50, blank=True, help_text="In-process: the built-in server's key.")
    url = models.URLField(max_length=500, blank=True)
    command = models.CharField(max_length=500, blank=True)
    args = models.JSONField(default=list, blank=True, validators=[v.validate_string_list])
    env = models.JSONField(default=dict, blank=True, validators=[v.validate_string_dict])
    credential = EncryptedCharField(
        max_length=2000,
        blank=True,
        default="",
        help_text="Bearer token sent to the server (stored encrypted).",
    )
    enabled = models.BooleanField(default=True)
    tool_allowlist = models.JSONField(
        default=list, blank=True, validators=[v.validate_string_list], help_text="Empty: every tool."
    )
    timeout_seconds = models.FloatField(
        default=30.0, validators=[MinValueValidator(0.1), MaxValueValidator(600)]
    )

    class Meta:
        ordering = ["name"]
        constraints = _unique_per_org("serverconnection", "name")

    def __str__(self) -> str:
        return self.name if self.is_global else f"{self.name} ({self.organization})"

    def clean(self) -> None:
        super().clean()
        T = self.Transport
        if self.transport == T.INPROCESS:
            known = sorted(getattr(settings, "MCP_INPROCESS_SERVERS", {}))
            if self.target not in known:
                raise ValidationError({"target": f"Choose one of the built-in servers: {', '.join(known)}."})
            problems = v.inprocess_option_errors(self.target, self.args)
            if problems:
                raise ValidationError({"args": problems})
        elif self.transport in (T.STREAMABLE_HTTP, T.SSE):
            if not self.url:
                raise ValidationError({"url": "An HTTP server needs a URL."})
            URLValidator(schemes=["http", "https"])(self.url)
            if self.organization_id is not None:  # global servers (operators') are exempt
                try:
                    v.validate_egress_url(self.url)
                except ValidationError as exc:
                    raise ValidationError({"url": exc.messages}) from None
        elif self.transport == T.STDIO:
            if not self.command.strip():
                raise ValidationError({"command": "A stdio server needs a command."})
            if self.organization_id is not None and not getattr(settings, "MCP_ALLOW_ORG_STDIO", False):
                # A command runs on our machines: only platform admins may add one (as a global server).
                raise ValidationError({"transport": "stdio servers can only be global."})
        else:
            raise ValidationError({"transport": "Unknown transport."})

    def bearer_token(self) -> str:
        """The decrypted credential ("" for none). Refuses to hand out ciphertext under a wrong key."""
        value = self.credential or ""
        if value.startswith("gAAAAA") and len(value) >= 100:
            # django-encrypted-model-fields returns the ciphertext itself when decryption fails.
            raise CredentialUnreadable(
                f"the credential of server {self.name!r} cannot be decrypted: FIELD_ENCRYPTION_KEY changed?"
            )
        return value

    def allows_tool(self, tool_name: str) -> bool:
        return not self.tool_allowlist or tool_name in self.tool_allowlist


from omni.registry.access_models import AccessRule  # noqa: E402,F401  (access rules: access.py)
from omni.registry.pins import ToolPin  # noqa: E402,F401  (tool pinning lives in its own module)
