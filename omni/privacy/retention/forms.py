"""The privacy page's forms: an organization's retention periods (inside the platform's bounds)
and its legal hold."""

from __future__ import annotations

from typing import Any

from django import forms

from omni.privacy.models import OrgRetention
from omni.privacy.retention.registry import RetentionClass, all_classes


def editable_classes() -> list[RetentionClass]:
    return [c for c in all_classes() if c.deletes and c.per_org]


class RetentionForm(forms.Form):
    """One field per data class an organization may set: days, empty for the platform default."""

    def __init__(self, *args: Any, row: OrgRetention | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        own = dict(row.days or {}) if row is not None else {}
        for retention_class in editable_classes():
            low, high = retention_class.bounds
            self.fields[retention_class.name] = forms.IntegerField(
                required=False,
                min_value=low,
                max_value=high,
                label=retention_class.label,
                initial=own.get(retention_class.name),
                help_text=(
                    f"Days. Empty: the platform default ({retention_class.platform_days}). "
                    f"Allowed: {low}–{high}."
                ),
                error_messages={
                    "min_value": f"At least {low} days: the platform's minimum for this data.",
                    "max_value": f"At most {high} days: the platform's maximum for this data.",
                    "invalid": "A whole number of days.",
                },
                widget=forms.NumberInput(
                    attrs={
                        "placeholder": str(retention_class.platform_days),
                        "aria-label": f"{retention_class.label}: days",
                        "style": "width: 8em",
                    }
                ),
            )

    def days(self) -> dict[str, int | None]:
        return {name: self.cleaned_data.get(name) for name in self.fields}


class LegalHoldForm(forms.Form):
    legal_hold = forms.BooleanField(required=False, label="Legal hold: suspend all deletion")
    reason = forms.CharField(
        required=False,
        max_length=500,
        label="Reason",
        widget=forms.TextInput(
            attrs={"placeholder": "Reason, e.g. litigation case 2026-17", "aria-label": "Reason"}
        ),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("legal_hold") and not (data.get("reason") or "").strip():
            self.add_error("reason", "Say why the organization is put on legal hold.")
        return data
