"""Encryption settings of an organization: its data keys' state and the personal-data masking switch."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from omni.privacy.crypto import services
from omni.privacy.crypto.redaction import masks_personal_data
from omni.tenants.permissions import ORG_MANAGE
from omni.tenants.ui import org_view, redirect_org, render_org


class MaskingForm(forms.Form):
    enabled = forms.BooleanField(
        required=False, label="Mask personal data (emails, phones, cards, IBANs) in stored payloads"
    )


@require_GET
@org_view(ORG_MANAGE)
def encryption(request: HttpRequest, slug: str) -> HttpResponse:
    org = request.org_ctx.organization
    context = {"form": MaskingForm(initial={"enabled": masks_personal_data(org)}), **services.key_status(org)}
    return render_org(request, "privacy/crypto/encryption.html", context)


@require_POST
@org_view(ORG_MANAGE)
def masking(request: HttpRequest, slug: str) -> HttpResponse:
    form = MaskingForm(request.POST)
    form.is_valid()  # a checkbox: absent means off
    enabled = bool(form.cleaned_data.get("enabled"))
    if services.set_personal_data_masking(
        request.org_ctx.organization, enabled, actor=request.user, request=request
    ):
        messages.success(
            request, f"Personal data is {'now' if enabled else 'no longer'} masked in stored payloads."
        )
    return redirect_org(request, f"/o/{slug}/privacy/encryption/")


ORG = "o/<slug:slug>"
urlpatterns = [
    path(f"{ORG}/privacy/encryption/", encryption, name="encryption"),
    path(f"{ORG}/privacy/encryption/masking/", masking, name="masking"),
]
