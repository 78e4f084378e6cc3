"""Resources: list and search, create (text or an uploaded file), edit, delete, override a global
one, read (text shown escaped; binary as size + download, images inline)."""

from __future__ import annotations

from django.db.models import BooleanField, ExpressionWrapper, Q
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from omni.registry.forms import ResourceForm
from omni.registry.models import Resource
from omni.registry.views.common import (
    Kind,
    delete_item,
    edit_item,
    list_items,
    override_item,
    own_item,
    visible_item,
)
from omni.tenants.permissions import REGISTRY_WRITE, RESOURCES_READ
from omni.tenants.ui import org_view, render_org

RESOURCES = Kind(
    model=Resource,
    form=ResourceForm,
    section="resources",
    label="resource",
    search_fields=("uri", "name", "title", "description"),
    # The list shows whether an item is binary, not its content: never load the bodies for it.
    list_query=lambda items: items.defer("text", "blob").annotate(
        binary=ExpressionWrapper(Q(blob__isnull=False), output_field=BooleanField())
    ),
)


@org_view(RESOURCES_READ)
def resource_list(request: HttpRequest, slug: str) -> HttpResponse:
    return render_org(
        request,
        "registry/resource_list.html",
        list_items(request, RESOURCES),
        fragment="registry/partials/resource_rows.html",
    )


@org_view(REGISTRY_WRITE)
def resource_create(request: HttpRequest, slug: str) -> HttpResponse:
    return edit_item(request, RESOURCES, "registry/resource_form.html")


@org_view(RESOURCES_READ)
def resource_detail(request: HttpRequest, slug: str, item_id: str) -> HttpResponse:
    resource = visible_item(request, RESOURCES, item_id)
    is_image = resource.is_binary and resource.mime_type.startswith("image/")
    return render_org(
        request,
        "registry/resource_detail.html",
        {"item": resource, "kind": RESOURCES, "is_image": is_image},
    )


@org_view(RESOURCES_READ)
def resource_content(request: HttpRequest, slug: str, item_id: str) -> HttpResponse:
    """The raw content, as a download. ``sandbox`` and ``nosniff`` keep an uploaded HTML or SVG
    file from running as a page of this site; an ``<img>`` still shows an image."""
    resource = visible_item(request, RESOURCES, item_id)
    response = HttpResponse(resource.content_bytes(), content_type=resource.mime_type)
    filename = resource.uri.rsplit("/", 1)[-1] or resource.name
    safe_name = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in filename)[:100] or "resource"
    response["Content-Disposition"] = f'attachment; filename="{safe_name}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


@org_view(REGISTRY_WRITE)
def resource_edit(request: HttpRequest, slug: str, item_id: str) -> HttpResponse:
    return edit_item(request, RESOURCES, "registry/resource_form.html", own_item(request, RESOURCES, item_id))


@require_POST
@org_view(REGISTRY_WRITE)
def resource_delete(request: HttpRequest, slug: str, item_id: str) -> HttpResponse:
    return delete_item(request, RESOURCES, item_id)


@require_POST
@org_view(REGISTRY_WRITE)
def resource_override(request: HttpRequest, slug: str, item_id: str) -> HttpResponse:
    return override_item(request, RESOURCES, item_id)
