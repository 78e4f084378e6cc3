"""Scenario pages under ``/o/<slug>/scenarios/``: list shipped and uploaded scenarios, run one with
variables, upload or delete an organization's scenario, and read a run's report. Thin: parse, call
``scenario_library`` / ``scenarios``, render."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from omni.playground import scenario_library as library
from omni.playground.models import ScenarioRun
from omni.playground.scenario_spec import MAX_SCENARIO_BYTES, ScenarioError
from omni.playground.scenarios import check_scenario_allowed, run_scenario
from omni.tenants.permissions import REGISTRY_READ, REGISTRY_WRITE, TOOLS_CALL, can
from omni.tenants.ui import org_view, redirect_org, render_org

VAR_PREFIX = "var_"


class UploadForm(forms.Form):
    text = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}),
        label="Scenario YAML",
        help_text="Paste a scenario (see docs/scenarios.md), or choose a file below.",
    )
    file = forms.FileField(required=False, label="…or a .yaml file")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("file")
        if upload is not None:
            if upload.size > MAX_SCENARIO_BYTES:
                raise forms.ValidationError(f"The file is larger than {MAX_SCENARIO_BYTES // 1024} KiB.")
            try:
                data["text"] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                raise forms.ValidationError("The file is not UTF-8 text.") from None
        if not (data.get("text") or "").strip():
            raise forms.ValidationError("Paste a scenario or choose a file.")
        return data


def _list_context(
    request: HttpRequest, upload_form: UploadForm | None = None, **extra: Any
) -> dict[str, Any]:
    ctx = request.org_ctx
    return {
        "entries": library.list_scenarios(ctx),
        "runs": library.recent_runs(ctx),
        "upload_form": upload_form or UploadForm(),
        "can_run": can(ctx, TOOLS_CALL),
        "can_upload": can(ctx, REGISTRY_WRITE),
        "var_prefix": VAR_PREFIX,
        **extra,
    }


@require_GET
@org_view(REGISTRY_READ)
def scenario_list(request: HttpRequest, slug: str) -> HttpResponse:
    return render_org(request, "scenarios/list.html", _list_context(request))


@require_POST
@org_view(REGISTRY_READ)
def scenario_run(request: HttpRequest, slug: str) -> HttpResponse:
    """Run the scenario ``key`` with ``var_<name>`` overrides; show its report."""
    ctx = request.org_ctx
    key = request.POST.get("scenario", "")
    try:
        scenario, origin = library.load_entry(ctx, key)
    except ScenarioError:
        raise Http404("No such scenario.") from None
    check_scenario_allowed(ctx, scenario)  # 403 for a role that may not run its operations
    overrides = {}
    for field, raw in request.POST.items():
        if field.startswith(VAR_PREFIX):
            name, value = field[len(VAR_PREFIX) :], raw.replace("\r\n", "\n")  # browsers send CRLF
            if name not in scenario.variables or value != library.default_text(scenario.variables[name]):
                overrides[name] = value  # only what the user changed (an unknown name is an error)
    try:
        report = run_scenario(
            ctx,
            scenario,
            variables=overrides,
            user=request.user,
            trigger=ScenarioRun.Trigger.UI,
            origin=origin,
            stop_on_failure=False if request.POST.get("continue_on_failure") else None,
        )
    except ScenarioError as exc:
        context = _list_context(request, run_errors={key: exc.errors})
        return render_org(request, "scenarios/list.html", context, status=400)
    return redirect_org(
        request, reverse("playground:scenario_run_detail", args=[ctx.org_slug, report.run_id])
    )


@require_POST
@org_view(REGISTRY_WRITE)
def scenario_upload(request: HttpRequest, slug: str) -> HttpResponse:
    ctx = request.org_ctx
    form = UploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            uploaded = library.save_uploaded(ctx, form.cleaned_data["text"], user=request.user)
        except ScenarioError as exc:
            for error in exc.errors:
                form.add_error("text", error)
        else:
            messages.success(request, f"Scenario {uploaded.name} saved.")
            return redirect_org(request, reverse("playground:scenarios", args=[ctx.org_slug]))
    return render_org(
        request, "scenarios/list.html", _list_context(request, form, show_upload=True), status=400
    )


@require_POST
@org_view(REGISTRY_WRITE)
def scenario_delete(request: HttpRequest, slug: str, scenario_id: str) -> HttpResponse:
    ctx = request.org_ctx
    if not library.delete_uploaded(ctx, scenario_id):
        raise Http404("No such scenario.")
    messages.success(request, "Scenario deleted.")
    return redirect_org(request, reverse("playground:scenarios", args=[ctx.org_slug]))


@require_GET
@org_view(REGISTRY_READ)
def scenario_run_detail(request: HttpRequest, slug: str, run_id: str) -> HttpResponse:
    run = library.get_scenario_run(request.org_ctx, run_id)
    if run is None:
        raise Http404("No such scenario run.")
    previous = library.previous_run(request.org_ctx, run)
    before = {
        step["name"]: step.get("test_run_id")
        for step in (previous.report.get("steps", []) if previous else [])
    }
    steps = [
        {**step, "previous_test_run_id": before.get(step["name"])} for step in run.report.get("steps", [])
    ]
    context = {"run": run, "report": run.report, "steps": steps, "previous": previous}
    return render_org(request, "scenarios/run.html", context)
