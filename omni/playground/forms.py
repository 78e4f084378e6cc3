"""Forms of the playground pages: history filters, the pair of runs to compare, analytics window."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone

from omni.playground.analytics import WINDOWS
from omni.playground.models import TestRun
from omni.playground.operations import OPERATION_NAMES
from omni.playground.services import RunFilters


def _blank(choices: list[tuple[str, str]], label: str) -> list[tuple[str, str]]:
    return [("", label), *choices]


class HistoryFilterForm(forms.Form):
    operation = forms.ChoiceField(
        required=False, choices=_blank([(name, name) for name in OPERATION_NAMES], "Any operation")
    )
    outcome = forms.ChoiceField(required=False, choices=_blank(TestRun.Outcome.choices, "Any outcome"))
    source = forms.ChoiceField(required=False, choices=_blank(TestRun.Source.choices, "Any source"))
    user = forms.CharField(required=False, max_length=150, label="User")
    tool = forms.CharField(required=False, max_length=500, label="Tool / target")
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return data

    def filters(self) -> RunFilters:
        """The filters of a valid form (dates are whole days, ``until`` inclusive)."""
        data = self.cleaned_data
        zone = timezone.get_current_timezone()
        since = datetime.combine(data["since"], time.min, zone) if data.get("since") else None
        until = (
            datetime.combine(data["until"], time.min, zone) + timedelta(days=1) if data.get("until") else None
        )
        return RunFilters(
            operation=data.get("operation") or "",
            outcome=data.get("outcome") or "",
            source=data.get("source") or "",
            username=data.get("user") or "",
            target=data.get("tool") or "",
            since=since,
            until=until,
        )


class DiffForm(forms.Form):
    """Two runs to compare: ``?a=<uuid>&b=<uuid>``, or two ``run`` values (the history checkboxes)."""

    a = forms.UUIDField(error_messages={"required": "Select exactly two runs to compare."})
    b = forms.UUIDField(error_messages={"required": "Select exactly two runs to compare."})

    @classmethod
    def from_query(cls, query) -> DiffForm:
        runs = query.getlist("run")
        if runs and "a" not in query:
            pair = runs if len(runs) == 2 else ["", ""]
            return cls({"a": pair[0], "b": pair[1]})
        return cls(query)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("a") and data.get("a") == data.get("b"):
            raise forms.ValidationError("Pick two different runs.")
        return data


class AnalyticsForm(forms.Form):
    window = forms.ChoiceField(required=False, choices=[(key, key) for key in WINDOWS])
    operation = forms.ChoiceField(
        required=False, choices=_blank([(name, name) for name in OPERATION_NAMES], "Every operation")
    )
