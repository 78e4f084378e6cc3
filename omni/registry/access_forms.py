"""The form that adds an access rule (the API key choices are the organization's own keys)."""

from __future__ import annotations

from typing import Any

from django import forms

from omni.registry.access_models import AccessRule
from omni.tenants.context import OrgContext
from omni.tenants.models import ApiKey


class AccessRuleForm(forms.ModelForm):
    class Meta:
        model = AccessRule
        fields = ["effect", "kind", "pattern", "subject_type", "role", "api_key", "priority", "description"]
        labels = {"subject_type": "Applies to", "api_key": "API key"}

    def __init__(self, *args: Any, ctx: OrgContext, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance.organization = ctx.organization
        self.fields["api_key"].queryset = ApiKey.objects.for_org(ctx).order_by("name")
        self.fields["api_key"].required = False
        self.fields["role"].required = False
        self.fields["pattern"].widget.attrs.update({"placeholder": "utilities__*", "autocomplete": "off"})

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        subject = data.get("subject_type")
        if subject == AccessRule.SubjectType.ROLE:
            data["api_key"] = None
            if not data.get("role"):
                self.add_error("role", "Choose the role this rule applies to.")
        elif subject == AccessRule.SubjectType.API_KEY:
            data["role"] = ""
            if not data.get("api_key"):
                self.add_error("api_key", "Choose the API key this rule applies to.")
        return data

    def rule_fields(self) -> dict[str, Any]:
        """The cleaned values as keyword arguments of ``access.create_rule``."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields}
