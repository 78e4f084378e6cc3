"""Filtering the audit log: the viewer's form, applied the same way to the page and the exports."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone

# data["outcome"] values: logins ("ok", "failed"), tool calls ("ok", "tool_error", "timeout",
# "server_error", "error") and anything else that reports one.
OUTCOMES = [
    ("", "any outcome"),
    ("ok", "ok"),
    ("tool_error", "tool error"),
    ("timeout", "timeout"),
    ("server_error", "server error"),
    ("error", "error"),
    ("failed", "failed"),
    ("denied", "denied"),
]
MAX_RANGE_DAYS = 3660


class AuditFilterForm(forms.Form):
    action = forms.RegexField(
        required=False,
        max_length=64,
        regex=r"^[a-z0-9_.]*$",
        label="Action",
        help_text="A prefix: 'registry.' or 'auth.login'.",
        error_messages={"invalid": "Use lower-case letters, digits, '_' and '.' (an action prefix)."},
        widget=forms.TextInput(attrs={"placeholder": "registry."}),
    )
    actor = forms.CharField(
        required=False, max_length=200, label="Actor", widget=forms.TextInput(attrs={"placeholder": "alice"})
    )
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    outcome = forms.ChoiceField(required=False, choices=OUTCOMES, label="Outcome")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end:
            if end < start:
                self.add_error("date_to", "The end date is before the start date.")
            elif (end - start).days > MAX_RANGE_DAYS:
                self.add_error("date_to", "Choose a range of at most ten years.")
        return cleaned

    def apply(self, queryset: QuerySet) -> QuerySet:
        """``queryset`` narrowed by the (valid) filters; call ``is_valid()`` first."""
        data = self.cleaned_data
        if data.get("action"):
            queryset = queryset.filter(action__startswith=data["action"])
        if data.get("actor"):
            term = data["actor"]
            queryset = queryset.filter(Q(actor_name__icontains=term) | Q(actor_id=term))
        if data.get("date_from"):
            queryset = queryset.filter(created_at__gte=_day_start(data["date_from"]))
        if data.get("date_to"):
            queryset = queryset.filter(created_at__lt=_day_start(data["date_to"] + dt.timedelta(days=1)))
        if data.get("outcome"):
            queryset = queryset.filter(data__outcome=data["outcome"])
        return queryset

    def active(self) -> dict[str, str]:
        """The filters in use, as query parameters (for pagination and export links)."""
        if not self.is_bound or not self.is_valid():
            return {}
        return {name: str(value) for name, value in self.cleaned_data.items() if value not in (None, "")}


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_current_timezone())


def form_errors(form: forms.Form) -> dict[str, list[str]]:
    return {field: [str(message) for message in messages] for field, messages in form.errors.items()}
