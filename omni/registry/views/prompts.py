"""Prompts: list and search, create, edit, delete, override a global one, preview (render with
arguments exactly as ``prompts/get`` does)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from omni.registry.forms import PromptForm
from omni.registry.models import Prompt
from omni.registry.services import PromptArgumentError, render_prompt
from omni.registry.views.common import (
    Kind,
    delete_item,
    edit_item,
    list_items,
    override_item,
    own_item,
    visible_item,
)
from omni.tenants.permissions import PROMPTS_READ, REGISTRY_WRITE
from omni.tenants.ui import org_view, render_org

PROMPTS = Kind(
    model=Prompt,
    form=PromptForm,
    section="prompts",
    label="prompt",
    search_fields=("name", "title", "description"),
)


@org_view(PROMPTS_READ)
def prompt_list(request: HttpRequest, slug: str) -> HttpResponse:
    return render_org(
        request,
        "registry/prompt_list.html",
        list_items(request, PROMPTS),
        fragment="registry/partials/prompt_rows.html",
    )


@org_view(REGISTRY_WRITE)
def prompt_create(request: HttpRequest, slug: str) -> HttpResponse:
    return edit_item(request, PROMPTS, "registry/prompt_form.html")


def _argument_rows(prompt: Prompt, given: dict[str, str]) -> list[dict[str, object]]:
    """The preview form's inputs: each declared argument with the value given so far."""
    return [{**arg, "value": given.get(arg["name"], "")} for arg in prompt.arguments]


@org_view(PROMPTS_READ)
def prompt_detail(request: HttpRequest, slug: str, item_id: str) -> HttpResponse:
    prompt = visible_item(request, PROMPTS, item_id)
    context = {"item": prompt, "kind": PROMPTS, "argument_rows": _argument_rows(prompt, {})}
    return render_org(request, "registry/prompt_detail.html", context)


@org_view(PROMPTS_READ)
def prompt_preview(request: HttpRequest, slug: str, item_id: str) -> HttpResponse:
    """Render the prompt with the arguments of the query string (``?arg_<name>=value``)."""
    prompt = visible_item(request, PROMPTS, item_id)
    arguments = {
        name[4:]: value for name, value in request.GET.items() if name.startswith("arg_") and value != ""
    }
    try:
        rendered, error = render_prompt(prompt, arguments), None
    except PromptArgumentError as exc:
        rendered, error = None, str(exc)
    context = {
        "item": prompt,
        "kind": PROMPTS,
        "rendered": rendered,
        "error": error,
        "argument_rows": _argument_rows(prompt, arguments),
    }
    return render_org(
        request,
        "registry/prompt_detail.html",
        context,
        fragment="registry/partials/prompt_preview.html",
        status=400 if error else 200,
    )


@org_view(REGISTRY_WRITE)
def prompt_edit(request: HttpRequest, slug: str, item_id: str) -> HttpResponse:
    return edit_item(request, PROMPTS, "registry/prompt_form.html", own_item(request, PROMPTS, item_id))


@require_POST
@org_view(REGISTRY_WRITE)
def prompt_delete(request: HttpRequest, slug: str, item_id: str) -> HttpResponse:
    return delete_item(request, PROMPTS, item_id)


@require_POST
@org_view(REGISTRY_WRITE)
def prompt_override(request: HttpRequest, slug: str, item_id: str) -> HttpResponse:
    return override_item(request, PROMPTS, item_id)
