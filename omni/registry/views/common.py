"""What the registry pages share: finding an item of the organization, listing with search and
override marks, the create/edit form flow, delete and override.

Reads go through ``for_org`` (own + global rows), writes through ``owned_by`` (own rows only): a
global row is shown read-only and changed by "override" (an organization copy), never in place.
Writes use model ``save()``/``delete()``, which tell the gateway after commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse

from omni.registry.forms import RegistryForm, copy_for_org
from omni.registry.models import RegistryItem
from omni.tenants.ui import redirect_org, render_org


@dataclass(frozen=True)
class Kind:
    """One kind of registry item as the UI shows it."""

    model: type[RegistryItem]
    form: type[RegistryForm]
    section: str  # URL segment: "prompts"
    label: str  # "prompt"
    search_fields: tuple[str, ...]
    # Adjusts the list query (e.g. defers large columns); applied before the search filter.
    list_query: Callable[[QuerySet], QuerySet] | None = None

    def list_url(self, slug: str) -> str:
        return f"/o/{slug}/{self.section}/"

    def detail_url(self, slug: str, item: RegistryItem) -> str:
        return f"/o/{slug}/{self.section}/{item.uuid}/"


def visible_item(request: HttpRequest, kind: Kind, item_id: Any) -> RegistryItem:
    """An item the organization sees (its own or a global one); 404 otherwise."""
    item = kind.model.objects.for_org(request.org_ctx).filter(uuid=item_id).first()
    if item is None:
        raise Http404(f"No such {kind.label}.")
    field = kind.model.override_field
    item.overridden = (
        item.is_global
        and kind.model.objects.owned_by(request.org_ctx).filter(**{field: item.override_key}).exists()
    )
    return item


def own_item(request: HttpRequest, kind: Kind, item_id: Any) -> RegistryItem:
    """An item the organization may change: its own. A global one is read-only here (403)."""
    item = visible_item(request, kind, item_id)
    if item.is_global:
        raise PermissionDenied(f"Global {kind.label}s are read-only here: override it to change it.")
    return item


def list_items(request: HttpRequest, kind: Kind) -> dict[str, Any]:
    """The items the organization sees, filtered by ``?q=``, with global rows marked overridden."""
    ctx = request.org_ctx
    query = request.GET.get("q", "").strip()
    items = kind.model.objects.for_org(ctx)
    if kind.list_query is not None:
        items = kind.list_query(items)
    if query:
        condition = Q()
        for field in kind.search_fields:
            condition |= Q(**{f"{field}__icontains": query})
        items = items.filter(condition)
    items = list(items)
    own_keys = {item.override_key for item in items if not item.is_global}
    if query:  # an own item that did not match the search still overrides its global twin
        field = kind.model.override_field
        own_keys |= set(kind.model.objects.owned_by(ctx).values_list(field, flat=True))
    for item in items:
        item.overridden = item.is_global and item.override_key in own_keys
    return {"items": items, "query": query, "kind": kind}


def edit_item(
    request: HttpRequest, kind: Kind, template: str, item: RegistryItem | None = None, **extra: Any
) -> HttpResponse:
    """GET: the form; POST: validate, save (201-style redirect to the item) or re-show with errors."""
    ctx = request.org_ctx
    instance = item if item is not None else kind.model()
    if request.method == "POST":
        form = kind.form(request.POST, request.FILES, instance=instance, ctx=ctx)
        if form.is_valid():
            saved = form.save()
            verb = "Saved" if item is not None else "Created"
            messages.success(request, f"{verb} {kind.label} {saved.override_key}. MCP clients see it now.")
            return redirect_org(request, kind.detail_url(ctx.org_slug, saved))
        status = 400
    else:
        form = kind.form(instance=instance, ctx=ctx)
        status = 200
    context = {"form": form, "item": item, "kind": kind, **extra}
    return render_org(request, template, context, status=status)


def delete_item(request: HttpRequest, kind: Kind, item_id: Any) -> HttpResponse:
    item = own_item(request, kind, item_id)
    key = item.override_key
    item.delete()
    messages.success(request, f"Deleted {kind.label} {key}.")
    return redirect_org(request, kind.list_url(request.org_ctx.org_slug))


def override_item(request: HttpRequest, kind: Kind, item_id: Any) -> HttpResponse:
    """Copy a global item into the organization (then edit the copy); the copy wins from now on."""
    ctx = request.org_ctx
    item = visible_item(request, kind, item_id)
    if not item.is_global:
        raise Http404(f"Only a global {kind.label} can be overridden.")
    field = kind.model.override_field
    existing = kind.model.objects.owned_by(ctx).filter(**{field: item.override_key}).first()
    if existing is not None:
        messages.info(request, f"This organization already overrides {item.override_key}.")
        return redirect_org(request, kind.detail_url(ctx.org_slug, existing))
    copy = copy_for_org(item, ctx)
    try:
        copy.full_clean()
    except ValidationError as exc:  # e.g. a global stdio server, which organizations may not run
        messages.error(request, f"{item.override_key} cannot be overridden: {' '.join(exc.messages)}")
        return redirect_org(request, kind.detail_url(ctx.org_slug, item))
    copy.save()
    messages.success(request, f"{item.override_key} is now this organization's own copy: edit it freely.")
    return redirect_org(request, kind.detail_url(ctx.org_slug, copy) + "edit/")
