"""Forms of the load-test pages: a profile (YAML validated by the profiles part), starting a run,
naming a baseline."""

from __future__ import annotations

import logging
from typing import Any

from celery.schedules import crontab
from django import forms
from django.core.validators import RegexValidator

from omni.loadtest.models import LoadBaseline, LoadProfile
from omni.loadtest.parts import ProfileError, profile_errors, validate_profile
from omni.registry.models import ServerConnection
from omni.tenants.context import OrgContext

logger = logging.getLogger(__name__)
MAX_PROFILE_BYTES = 64 * 1024
CRON_FIELDS = 5


class ProfileForm(forms.ModelForm):
    class Meta:
        model = LoadProfile
        fields = ["name", "title", "description", "source", "schedule", "schedule_enabled"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "source": forms.Textarea(attrs={"rows": 22, "spellcheck": "false"}),
        }
        labels = {"source": "Profile YAML", "schedule_enabled": "Run on this schedule"}
        help_texts = {
            "schedule": "A 5-field cron expression in UTC (e.g. “0 3 * * *” for nightly); empty: never.",
        }

    def __init__(self, *args: Any, ctx: OrgContext, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ctx = ctx
        self.parsed: dict[str, Any] | None = None

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        taken = LoadProfile.objects.for_org(self.ctx).filter(name=name)
        if self.instance.pk:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError("This organization already has a profile of that name.")
        return name

    def clean_source(self) -> str:
        source = self.cleaned_data["source"]
        if len(source.encode()) > MAX_PROFILE_BYTES:
            raise forms.ValidationError(f"A profile is at most {MAX_PROFILE_BYTES // 1024} KiB.")
        try:
            self.parsed = validate_profile(source, self.ctx.organization)
        except ProfileError as exc:
            raise forms.ValidationError(profile_errors(exc)) from None
        except Exception as exc:  # a validator of another part that fails its own way: no 500
            logger.exception("validating a load profile failed")
            raise forms.ValidationError(f"The profile could not be validated: {exc}") from None
        return source

    def clean_schedule(self) -> str:
        schedule = " ".join(self.cleaned_data.get("schedule", "").split())
        if not schedule:
            return schedule
        fields = schedule.split(" ")
        if len(fields) != CRON_FIELDS:
            raise forms.ValidationError("Use a 5-field cron expression: minute hour day month weekday.")
        minute, hour, day, month, weekday = fields
        try:
            crontab(minute, hour, weekday, day, month)
        except (ValueError, TypeError, IndexError) as exc:
            raise forms.ValidationError(f"Not a valid cron expression: {exc}") from None
        return schedule

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("schedule_enabled") and not data.get("schedule"):
            self.add_error("schedule", "Give a schedule to run the profile on.")
        return data


def target_choices(ctx: OrgContext) -> list[tuple[str, str]]:
    """The gateway endpoint, then each enabled server the organization sees (measured directly)."""
    choices = [
        ("", "As the profile says"),
        ("gateway", "This organization's gateway endpoint (/mcp: auth, limits, forwarding)"),
    ]
    servers = ServerConnection.objects.for_org(ctx).filter(enabled=True).order_by("name")
    choices += [(f"server:{s.name}", f"Server “{s.name}” directly") for s in servers]
    return choices


BASELINE_NAME = RegexValidator(
    r"^[A-Za-z0-9_.:-]+$", "Letters, digits and - _ . : only (e.g. smoke:gateway)."
)


class StartForm(forms.Form):
    profile = forms.ChoiceField(label="Profile")
    target = forms.ChoiceField(label="Target", required=False)
    save_baseline = forms.CharField(
        required=False,
        max_length=100,
        validators=[BASELINE_NAME],
        label="Save as baseline",
        help_text="When it completes and passes, save the run as the baseline of this name "
        "(e.g. smoke:gateway, the default name later runs are compared with). Empty: don't.",
    )
    compare_baseline = forms.ChoiceField(required=False, label="Compare with baseline")
    raise_limits = forms.BooleanField(
        required=False,
        label="Raise limits for this run",
        help_text="Platform operators only: lift the organization's bounds and rate limits for this run.",
    )

    def __init__(self, *args: Any, ctx: OrgContext, profiles: list[str], superuser: bool, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["profile"].choices = [(name, name) for name in profiles]
        self.fields["target"].choices = target_choices(ctx)
        baselines = LoadBaseline.objects.for_org(ctx).order_by("name")
        self.fields["compare_baseline"].choices = [("", "The default (profile:target) when it exists")] + [
            (b.name, f"{b.name} ({b.profile_name}, {b.target})") for b in baselines
        ]
        if not superuser:
            del self.fields["raise_limits"]


class BaselineForm(forms.Form):
    name = forms.CharField(
        required=False,
        max_length=100,
        validators=[BASELINE_NAME],
        label="Baseline name",
        help_text="Empty: profile:target, the baseline later runs of that profile and target use.",
    )
