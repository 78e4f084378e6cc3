"""Forms of the registry UI: MCP servers, prompts and resources of one organization.

Every form is bound to the organization of the request (``ctx``): the instance gets that
organization before validation, so the model's ``clean()`` (stdio refused for organizations, prompt
placeholders declared, text xor binary) and the per-organization uniqueness are checked and shown
inline instead of failing at save time.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings

from omni.registry.models import Prompt, RegistryItem, Resource, ServerConnection
from omni.tenants.context import OrgContext


class LinesField(forms.CharField):
    """A list of strings, entered one per line (blank lines ignored)."""

    widget = forms.Textarea(attrs={"rows": 3})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list):
            return value
        text = super().to_python(value) or ""
        return [line.strip() for line in text.splitlines() if line.strip()]


class EnvField(LinesField):
    """A ``{name: value}`` mapping, entered as ``NAME=value`` lines."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return "\n".join(f"{key}={item}" for key, item in value.items())
        return value

    def to_python(self, value: Any) -> dict[str, str]:
        if isinstance(value, dict):
            return value
        result: dict[str, str] = {}
        for line in super().to_python(value):
            name, sep, item = line.partition("=")
            if not sep or not name.strip():
                raise forms.ValidationError(f"Write NAME=value, one per line (not {line!r}).")
            result[name.strip()] = item
        return result


class PrettyJSONField(forms.JSONField):
    """JSON in a textarea, shown indented; empty means ``empty`` (a list by default)."""

    def __init__(self, *, empty: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}))
        super().__init__(**kwargs)
        self.empty = [] if empty is None else empty

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)

    def to_python(self, value: Any) -> Any:
        result = super().to_python(value)
        return self.empty if result is None else result


class RegistryForm(forms.ModelForm):
    """Binds the instance to ``ctx``'s organization; its key must be unique in the organization."""

    def __init__(self, *args: Any, ctx: OrgContext, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ctx = ctx
        self.instance.organization = ctx.organization

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        field = self._meta.model.override_field
        value = data.get(field)
        if value:
            clash = self._meta.model.objects.owned_by(self.ctx).filter(**{field: value})
            if self.instance.pk is not None:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                self.add_error(field, f"This organization already has an item with this {field}.")
        return data


class ServerForm(RegistryForm):
    args = LinesField(
        label="Arguments",
        help_text="stdio: one command-line argument per line. In-process faults server: its fault "
        "settings, e.g. --latency normal:50:10 and --error-rate 0.1 (docs/loadtesting.md).",
    )
    env = EnvField(label="Environment", help_text="stdio: NAME=value, one per line.")
    tool_allowlist = LinesField(
        label="Tool allowlist", help_text="One tool name per line. Empty: every tool of the server."
    )
    new_credential = forms.CharField(
        label="Credential (bearer token)",
        required=False,
        max_length=2000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Sent as Authorization: Bearer … to HTTP servers. Stored encrypted and never shown again; "
        "leave empty to keep the current one.",
    )
    clear_credential = forms.BooleanField(label="Remove the stored credential", required=False)
    url = forms.URLField(
        label="URL",
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="Streamable HTTP or SSE endpoint, e.g. https://mcp.example.com/mcp.",
    )

    class Meta:
        model = ServerConnection
        fields = [
            "name",
            "title",
            "description",
            "transport",
            "url",
            "target",
            "command",
            "args",
            "env",
            "enabled",
            "timeout_seconds",
            "tool_allowlist",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}
        help_texts = {
            "name": "Lowercase; becomes the tool namespace: <name>__<tool>.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        builtin = sorted(getattr(settings, "MCP_INPROCESS_SERVERS", {}))
        self.fields["target"] = forms.ChoiceField(
            label="Built-in server",
            required=False,
            choices=[("", "—"), *((name, name) for name in builtin)],
            help_text="In-process transport only.",
        )
        if not self.instance.credential:
            del self.fields["clear_credential"]  # nothing to remove
        if not getattr(settings, "MCP_ALLOW_ORG_STDIO", False):
            self.fields["transport"].help_text = "stdio servers can only be registered by platform operators."

    def save(self, commit: bool = True) -> ServerConnection:
        server = super().save(commit=False)
        if self.cleaned_data.get("clear_credential"):
            server.credential = ""
        if self.cleaned_data.get("new_credential"):
            server.credential = self.cleaned_data["new_credential"]
        if commit:
            server.save()
        return server


class PromptForm(RegistryForm):
    arguments = PrettyJSONField(
        required=False,
        help_text='A list like [{"name": "code", "description": "The code", "required": true}].',
    )
    messages = PrettyJSONField(
        help_text='A list like [{"role": "user", "content": "Review this:\\n{code}"}]; '
        "{name} inserts an argument, {{ and }} are literal braces.",
    )

    class Meta:
        model = Prompt
        fields = ["name", "title", "description", "arguments", "messages"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}


class ResourceForm(RegistryForm):
    upload = forms.FileField(
        label="Or upload a file",
        required=False,
        help_text="Binary content (an image, a PDF…). Replaces the text.",
    )

    class Meta:
        model = Resource
        fields = ["uri", "name", "title", "description", "mime_type", "text"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "text": forms.Textarea(attrs={"rows": 10}),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("upload")
        text = data.get("text") or ""
        if upload is not None and text:
            self.add_error("upload", "Give either text or a file, not both.")
        elif upload is not None:
            self.instance.blob = upload.read()
            data["text"] = ""
        elif text:
            self.instance.blob = None
        elif self.instance.blob is None:
            self.add_error("text", "Enter the text, or upload a file.")
        return data


def copy_for_org(item: RegistryItem, ctx: OrgContext) -> RegistryItem:
    """An unsaved copy of a global ``item`` for ``ctx``'s organization (an override).

    A server's credential is not copied: the organization could point the copy at another URL.
    """
    model = type(item)
    skip = {"id", "uuid", "organization", "created_at", "updated_at", "credential"}
    values = {f.name: getattr(item, f.name) for f in model._meta.concrete_fields if f.name not in skip}
    return model(organization=ctx.organization, **values)
