"""The usage dashboard's time-range picker: 1 h, 24 h, 7 d, 30 d or a custom range."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.utils import timezone

RANGES: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
MAX_CUSTOM = timedelta(days=400)


class RangeForm(forms.Form):
    range = forms.ChoiceField(
        required=False,
        choices=[*((name, f"last {name}") for name in RANGES), ("custom", "custom")],
        label="Range",
    )
    since = forms.DateTimeField(
        required=False, label="From (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = forms.DateTimeField(
        required=False, label="To (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def clean(self) -> dict:
        data = super().clean()
        choice = data.get("range") or "24h"
        data["range"] = choice
        if choice == "custom":
            since, until = data.get("since"), data.get("until")
            if since is None:
                self.add_error("since", "A custom range needs a start.")
            until = until or timezone.now()
            if since is not None and since >= until:
                self.add_error("until", "The end is not after the start.")
            elif since is not None and until - since > MAX_CUSTOM:
                self.add_error("since", "A custom range spans at most 400 days.")
            data["until"] = until
        return data

    def window(self) -> tuple[str, datetime, datetime]:
        """(range name, since, until) of a valid form; the default is the last 24 hours."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {"range": "24h"}
        choice = data.get("range") or "24h"
        now = timezone.now()
        if choice == "custom":
            return choice, data["since"], min(data["until"], now)
        return choice, now - RANGES[choice], now
