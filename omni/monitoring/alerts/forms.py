"""Forms of the alerting pages: rules, channels, maintenance windows. Each takes the scope (an
organization, or None for the operators' global objects) and offers only that scope's channels,
rules and servers."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from omni.monitoring.alerts.conditions import COMPARED
from omni.monitoring.models.alerts import AlertRule, MaintenanceWindow, NotificationChannel
from omni.security.egress import EgressDenied, check_url

MAX_EMAILS = 20


def _servers(org: Any) -> list[Any]:
    from omni.registry.models import ServerConnection

    qs = ServerConnection.objects.for_org(org) if org is not None else ServerConnection.objects.global_only()
    return list(qs.order_by("name"))


class RuleForm(forms.ModelForm):
    window_minutes = forms.IntegerField(
        min_value=1,
        max_value=1440,
        initial=5,
        required=False,
        help_text="Metric kinds: the window (minutes).",
    )
    server = forms.ChoiceField(required=False, help_text="Only this server (empty: all).")
    tool = forms.CharField(
        max_length=200,
        required=False,
        help_text="Metric kinds: only this tool, e.g. knowledge__search_notes.",
    )
    api_key = forms.ChoiceField(required=False, help_text="Metric kinds: only this API key.")

    class Meta:
        model = AlertRule
        fields = ["name", "kind", "comparison", "threshold", "for_seconds", "severity", "enabled", "channels"]
        labels = {"for_seconds": "For (seconds)"}
        help_texts = {
            "threshold": "Error rate in %, p95 in ms, calls or refusals as a count, server down in minutes, "
            "held-back changes as a count (fires above it). Ignored for the audit chain and load tests.",
        }
        widgets = {"channels": forms.CheckboxSelectMultiple}

    def __init__(self, *args: Any, org: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.org = org
        channels = NotificationChannel.objects
        self.fields["channels"].queryset = (
            channels.owned_by(org) if org is not None else channels.global_only()
        ).order_by("name")
        self.fields["server"].choices = [("", "— all —")] + [(s.name, s.name) for s in _servers(org)]
        keys: list[tuple[str, str]] = [("", "— all —")]
        if org is not None:
            from omni.tenants.models import ApiKey

            keys += [(str(k.pk), f"{k.prefix} ({k.name})") for k in ApiKey.objects.filter(organization=org)]
        else:
            del self.fields["api_key"]
        if "api_key" in self.fields:
            self.fields["api_key"].choices = keys
        params = self.instance.params or {}
        for name in ("window_minutes", "server", "tool", "api_key"):
            if name in self.fields and name in params:
                self.initial[name] = params[name]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        kind = data.get("kind")
        threshold = data.get("threshold")
        if kind in COMPARED:
            if not data.get("window_minutes"):
                self.add_error("window_minutes", "A metric rule needs a window.")
            if threshold is not None and threshold < 0:
                self.add_error("threshold", "The threshold cannot be negative.")
            if kind == "error_rate" and threshold is not None and threshold > 100:
                self.add_error("threshold", "An error rate is a percentage (0–100).")
        elif kind == "server_down":
            if threshold is None or threshold < 0:
                self.add_error("threshold", "Minutes down: 0 or more.")
            if data.get("tool") or data.get("api_key"):
                self.add_error("tool", "A server-down rule is scoped to a server only.")
        elif kind == "load_regression":
            if data.get("server") or data.get("tool") or data.get("api_key"):
                self.add_error(
                    "tool", "A load-test rule covers every profile and target of the organization."
                )
        elif kind in ("pins_held", "audit_chain"):
            if data.get("tool") or data.get("api_key"):
                self.add_error("tool", "This condition has no tool or key scope.")
            if kind == "audit_chain" and data.get("server"):
                self.add_error("server", "The audit chain is not about a server.")
        return data

    def save(self, commit: bool = True) -> AlertRule:
        rule = super().save(commit=False)
        rule.organization = self.org
        data = self.cleaned_data
        params: dict[str, Any] = {}
        if rule.kind in COMPARED:
            params["window_minutes"] = data.get("window_minutes") or 5
        for name in ("server", "tool", "api_key"):
            if data.get(name):
                params[name] = data[name]
        rule.params = params
        if rule.kind in ("audit_chain", "load_regression"):
            rule.threshold = 0.0
        rule.pending_since = None  # a changed rule starts its "for" clock again
        if commit:
            rule.save()
            self.save_m2m()
        return rule


def _emails(value: str) -> list[str]:
    items = [part.strip() for part in value.replace(";", ",").replace("\n", ",").split(",")]
    return [item for item in items if item]


class ChannelForm(forms.ModelForm):
    emails_text = forms.CharField(
        label="Email addresses",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Email: one or more addresses, separated by commas or lines.",
    )
    new_secret = forms.CharField(
        label="Signing secret",
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False),
        help_text="Webhook: the HMAC-SHA256 key receivers verify with (write-only; empty: keep it).",
    )

    url = forms.URLField(
        max_length=500, required=False, assume_scheme="https", help_text="Webhook / Slack: where to POST."
    )

    class Meta:
        model = NotificationChannel
        fields = ["name", "kind", "url", "enabled"]

    def __init__(self, *args: Any, org: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.org = org
        self.initial["emails_text"] = ", ".join(self.instance.emails or [])

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        kind = data.get("kind")
        if kind == NotificationChannel.Kind.EMAIL:
            emails = _emails(data.get("emails_text") or "")
            if not emails:
                self.add_error("emails_text", "An email channel needs at least one address.")
            elif len(emails) > MAX_EMAILS:
                self.add_error("emails_text", f"At most {MAX_EMAILS} addresses.")
            for email in emails:
                try:
                    validate_email(email)
                except ValidationError:
                    self.add_error("emails_text", f"{email!r} is not an email address.")
            data["emails"] = emails
        elif kind in (NotificationChannel.Kind.WEBHOOK, NotificationChannel.Kind.SLACK):
            url = data.get("url")
            if not url:
                if "url" not in self.errors:
                    self.add_error("url", "A webhook channel needs a URL.")
            elif self.org is not None:  # the operators' global channels are exempt, as global servers are
                try:
                    check_url(url)
                except EgressDenied as exc:
                    self.add_error("url", str(exc))
            data["emails"] = []
        return data

    def save(self, commit: bool = True) -> NotificationChannel:
        channel = super().save(commit=False)
        channel.organization = self.org
        channel.emails = self.cleaned_data.get("emails", [])
        if channel.kind != NotificationChannel.Kind.WEBHOOK:
            channel.secret = ""
        elif self.cleaned_data.get("new_secret"):
            channel.secret = self.cleaned_data["new_secret"]
        if channel.kind != NotificationChannel.Kind.EMAIL and not channel.url:
            channel.url = ""
        if channel.kind == NotificationChannel.Kind.EMAIL:
            channel.url = ""
        if commit:
            channel.save()
        return channel


class MaintenanceForm(forms.ModelForm):
    starts_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), help_text="UTC"
    )
    ends_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), help_text="UTC"
    )
    connection = forms.ModelChoiceField(
        queryset=None, required=False, label="Server", help_text="Mutes every rule scoped to this server."
    )

    class Meta:
        model = MaintenanceWindow
        fields = ["rule", "connection", "starts_at", "ends_at", "reason"]

    def __init__(self, *args: Any, org: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from omni.registry.models import ServerConnection

        self.org = org
        rules = AlertRule.objects
        self.fields["rule"].queryset = (
            rules.owned_by(org) if org is not None else rules.global_only()
        ).order_by("name")
        self.fields["rule"].required = False
        servers = ServerConnection.objects
        self.fields["connection"].queryset = (
            servers.for_org(org) if org is not None else servers.global_only()
        ).order_by("name")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("rule") and not data.get("connection"):
            raise ValidationError("Choose the rule or the server to mute.")
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", "The window must end after it starts.")
        return data

    def save(self, commit: bool = True) -> MaintenanceWindow:
        window = super().save(commit=False)
        window.organization = self.org
        if commit:
            window.save()
        return window
