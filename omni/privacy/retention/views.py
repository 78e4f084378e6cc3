"""The organization's privacy page, ``/o/<slug>/privacy/``: retention periods (owners edit), legal
hold (owners set and lift it), the last cleanup runs with their counts.

Owners and admins see the page (``audit:read``); only owners change anything
(``privacy:manage``: 403 for admins, 404 for outsiders, through ``org_view``). The data inventory
(pcrypt) and the data-subject request register (pdsr) are included when their partial templates
exist (``SECTIONS``).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.views.decorators.http import require_POST

from omni.privacy.models import RetentionRun
from omni.privacy.retention.forms import LegalHoldForm, RetentionForm
from omni.privacy.retention.policy import policies_for, retention_of, set_days, set_legal_hold
from omni.privacy.retention.registry import all_classes
from omni.tenants.permissions import AUDIT_READ, PRIVACY_MANAGE, can
from omni.tenants.ui import org_view, redirect_org, render_org

# Other parts of the privacy page: (slot, partial template). Each is included with the page's
# context (org, org_ctx, is_owner) when the template exists.
SECTIONS = (
    ("inventory", "privacy/crypto/_org_inventory.html"),
    ("requests", "privacy/subjects/_org_register.html"),
)
RECENT_RUNS = 30


def _sections() -> dict[str, str]:
    found = {}
    for slot, name in SECTIONS:
        try:
            get_template(name)
        except TemplateDoesNotExist:
            continue
        found[slot] = name
    return found


def privacy_page(
    request: HttpRequest,
    *,
    retention_form: RetentionForm | None = None,
    hold_form: LegalHoldForm | None = None,
    status: int = 200,
) -> HttpResponse:
    ctx = request.org_ctx
    org = ctx.organization
    row = retention_of(org)
    runs = list(RetentionRun.objects.owned_by(org).order_by("-started_at", "-id")[:RECENT_RUNS])
    context = {
        "policies": policies_for(org),
        "ttl_classes": [c for c in all_classes() if not c.deletes],
        "retention": row,
        "runs": runs,
        "is_owner": can(ctx, PRIVACY_MANAGE),
        "retention_form": retention_form or RetentionForm(row=row),
        "hold_form": hold_form
        or LegalHoldForm(
            initial={
                "legal_hold": bool(row and row.legal_hold),
                "reason": row.legal_hold_reason if row else "",
            }
        ),
        "sections": _sections(),
    }
    return render_org(request, "privacy/retention/privacy.html", context, status=status)


@org_view(AUDIT_READ)
def privacy(request: HttpRequest, slug: str) -> HttpResponse:
    return privacy_page(request)


@require_POST
@org_view(PRIVACY_MANAGE)
def retention_update(request: HttpRequest, slug: str) -> HttpResponse:
    org = request.org_ctx.organization
    form = RetentionForm(request.POST, row=retention_of(org))
    if not form.is_valid():
        return privacy_page(request, retention_form=form, status=400)
    changed = set_days(org, form.days(), actor=request.org_ctx, request=request)
    messages.success(request, "Retention periods saved." if changed else "Nothing changed.")
    return redirect_org(request, f"/o/{slug}/privacy/")


@require_POST
@org_view(PRIVACY_MANAGE)
def legal_hold_update(request: HttpRequest, slug: str) -> HttpResponse:
    org = request.org_ctx.organization
    form = LegalHoldForm(request.POST)
    if not form.is_valid():
        return privacy_page(request, hold_form=form, status=400)
    on = bool(form.cleaned_data["legal_hold"])
    changed = set_legal_hold(
        org, on, reason=form.cleaned_data.get("reason", "").strip(), actor=request.user, request=request
    )
    if changed:
        messages.success(
            request,
            "Legal hold is on: nothing of this organization is deleted." if on else "Legal hold lifted.",
        )
    return redirect_org(request, f"/o/{slug}/privacy/")
