"""Profile pages under ``/o/<slug>/loadtests/profiles/``: the shipped profiles and the
organization's own (list, read, create, edit with YAML validation, delete with confirmation,
schedule). Thin: parse, call the profiles part (through ``omni.loadtest.parts``), render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from omni.loadtest.forms import ProfileForm
from omni.loadtest.models import LoadProfile, LoadRun
from omni.loadtest.parts import ProfileError, parse_profile, shipped_profiles
from omni.tenants.permissions import LOADTEST_READ, LOADTEST_RUN, can
from omni.tenants.ui import org_view, redirect_org, render_org

RECENT_RUNS = 10


def _summary(source: str) -> dict[str, Any]:
    """A few facts of a profile for the list (title, mode, arrival, duration), or its first error."""
    try:
        spec = parse_profile(source)
    except ProfileError as exc:
        return {"invalid": True, "error": str(exc)[:200]}
    except Exception:  # a profile that breaks the parser must not break the page
        return {"invalid": True, "error": "could not be read"}
    arrival = spec.get("arrival") if isinstance(spec.get("arrival"), dict) else {}
    return {
        "invalid": False,
        "title": spec.get("title") or spec.get("description") or "",
        "mode": spec.get("mode") or "",
        "arrival": arrival.get("model") or "",
        "duration_s": spec.get("duration_s") or spec.get("duration") or "",
    }


def profile_names(ctx: Any) -> list[str]:
    """Every profile a run can use: the organization's, then the shipped ones it does not shadow."""
    own = list(LoadProfile.objects.for_org(ctx).values_list("name", flat=True))
    return own + [name for name in sorted(shipped_profiles()) if name not in own]


@require_http_methods(["GET"])
@org_view(LOADTEST_READ)
def profile_list(request: HttpRequest, slug: str) -> HttpResponse:
    ctx = request.org_ctx
    own = list(LoadProfile.objects.for_org(ctx).order_by("name"))
    own_names = {p.name for p in own}
    shipped = [
        {"name": name, "shadowed": name in own_names, **_summary(text)}
        for name, text in sorted(shipped_profiles().items())
    ]
    rows = [{"profile": p, **_summary(p.source)} for p in own]
    return render_org(
        request,
        "loadtest/profiles.html",
        {"own": rows, "shipped": shipped, "can_run": can(ctx, LOADTEST_RUN)},
    )


def _find(ctx: Any, name: str) -> tuple[LoadProfile | None, str]:
    """The organization's profile of that name, else the shipped one: (row or None, YAML)."""
    row = LoadProfile.objects.for_org(ctx).filter(name=name).first()
    if row is not None:
        return row, row.source
    text = shipped_profiles().get(name)
    if text is None:
        raise Http404("No such profile.")
    return None, text


@require_http_methods(["GET"])
@org_view(LOADTEST_READ)
def profile_detail(request: HttpRequest, slug: str, profile: str) -> HttpResponse:
    ctx = request.org_ctx
    row, source = _find(ctx, profile)
    runs = LoadRun.objects.for_org(ctx).filter(profile_name=profile).order_by("-created_at")[:RECENT_RUNS]
    return render_org(
        request,
        "loadtest/profile_detail.html",
        {
            "name": profile,
            "row": row,
            "source": source,
            "facts": _summary(source),
            "runs": list(runs),
            "can_run": can(ctx, LOADTEST_RUN),
        },
    )


@require_http_methods(["GET", "POST"])
@org_view(LOADTEST_RUN)
def profile_create(request: HttpRequest, slug: str) -> HttpResponse:
    ctx = request.org_ctx
    if request.method == "POST":
        form = ProfileForm(request.POST, ctx=ctx)
        if form.is_valid():
            profile = form.save(commit=False)
            profile.organization = ctx.organization
            profile.created_by = request.user
            profile.save()
            messages.success(request, f"Profile “{profile.name}” saved.")
            return redirect_org(request, f"/o/{slug}/loadtests/profiles/{profile.name}/")
        return render_org(request, "loadtest/profile_form.html", {"form": form, "creating": True}, status=400)
    initial: dict[str, Any] = {}
    copy_of = request.GET.get("from", "")
    if copy_of:
        text = shipped_profiles().get(copy_of)
        if text is not None:
            initial = {"name": f"{copy_of}-copy", "source": text}
    form = ProfileForm(initial=initial, ctx=ctx)
    return render_org(request, "loadtest/profile_form.html", {"form": form, "creating": True})


def _own(ctx: Any, name: str) -> LoadProfile:
    row = LoadProfile.objects.for_org(ctx).filter(name=name).first()
    if row is None:
        raise Http404("No such profile in this organization.")
    return row


@require_http_methods(["GET", "POST"])
@org_view(LOADTEST_RUN)
def profile_edit(request: HttpRequest, slug: str, profile: str) -> HttpResponse:
    ctx = request.org_ctx
    row = _own(ctx, profile)
    if request.method == "POST":
        form = ProfileForm(request.POST, instance=row, ctx=ctx)
        if form.is_valid():
            saved = form.save()
            messages.success(request, f"Profile “{saved.name}” saved.")
            return redirect_org(request, f"/o/{slug}/loadtests/profiles/{saved.name}/")
        return render_org(
            request, "loadtest/profile_form.html", {"form": form, "creating": False, "row": row}, status=400
        )
    form = ProfileForm(instance=row, ctx=ctx)
    return render_org(request, "loadtest/profile_form.html", {"form": form, "creating": False, "row": row})


@require_http_methods(["GET", "POST"])
@org_view(LOADTEST_RUN)
def profile_delete(request: HttpRequest, slug: str, profile: str) -> HttpResponse:
    """GET: the confirmation page; POST: delete (its runs stay, by name)."""
    row = _own(request.org_ctx, profile)
    if request.method == "POST":
        row.delete()
        messages.success(request, f"Profile “{profile}” deleted. Its runs are kept.")
        return redirect_org(request, f"/o/{slug}/loadtests/profiles/")
    runs = LoadRun.objects.for_org(request.org_ctx).filter(profile=row).count()
    return render_org(request, "loadtest/profile_delete.html", {"row": row, "runs": runs})
