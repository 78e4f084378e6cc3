"""MCP servers: list, register (URL or command), edit, enable/disable, delete, override a global
one, test the connection and see its tools (a real connection through the gateway's own client,
under the egress policy), and the per-tool allowlist.

A connection is opened only by a POST from someone who may call tools (``tools:call``), and its
failures are shown as a category (refused, timed out, TLS, not an MCP server, blocked by the egress
policy…); the details are in the server log."""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from omni.gateway import downstream
from omni.gateway.downstream import DownstreamError, Target, describe
from omni.registry.forms import ServerForm
from omni.registry.models import CredentialUnreadable, ServerConnection
from omni.registry.views.common import (
    Kind,
    delete_item,
    edit_item,
    list_items,
    override_item,
    own_item,
    visible_item,
)
from omni.tenants.permissions import REGISTRY_READ, REGISTRY_WRITE, TOOLS_CALL
from omni.tenants.ui import org_view, redirect_org, render_org

SERVERS = Kind(
    model=ServerConnection,
    form=ServerForm,
    section="servers",
    label="server",
    search_fields=("name", "title", "description", "url", "command"),
)


def probe(server: ServerConnection) -> dict[str, Any]:
    """Connect to ``server`` and list everything it offers (every tool, ignoring the allowlist,
    so the allowlist can be chosen from them). ``{"ok": False, "error": ...}`` when it fails."""
    started = time.monotonic()
    # A test probes afresh. Also works around downstream's per-URL era cache: a client opened with a
    # cached modern version adopts empty capabilities (no server/discover) and would list no tools.
    downstream._url_modes.pop(server.url, None)
    try:
        target = dataclasses.replace(Target.from_connection(server), allowlist=frozenset())
        listing = async_to_sync(describe)(target)
    except (DownstreamError, CredentialUnreadable) as exc:
        return {"ok": False, "error": str(exc), "elapsed_ms": round((time.monotonic() - started) * 1000)}
    tools = [
        {
            "name": tool.name,
            "description": tool.description or "",
            "schema": json.dumps(tool.input_schema, indent=2, ensure_ascii=False),
            "allowed": server.allows_tool(tool.name),
        }
        for tool in sorted(listing.tools, key=lambda tool: tool.name)
    ]
    return {
        "ok": True,
        "tools": tools,
        "prompt_count": len(listing.prompts),
        "resource_count": len(listing.resources),
        "elapsed_ms": round((time.monotonic() - started) * 1000),
        "unknown_allowed": sorted(set(server.tool_allowlist) - {tool["name"] for tool in tools}),
    }


def connection_test(server: ServerConnection) -> dict[str, Any]:
    """Connect to ``server`` as the form would save it (not saved yet): a fresh connection and
    the listing, through the gateway's opener. ``{"ok": False, "error": ...}`` when it fails."""
    started = time.monotonic()
    downstream._url_modes.pop(server.url, None)
    try:
        target = dataclasses.replace(Target.from_connection(server), allowlist=frozenset())
        listing = async_to_sync(downstream.probe)(target, test=True)
    except (DownstreamError, CredentialUnreadable) as exc:
        return {"ok": False, "error": str(exc), "elapsed_ms": round((time.monotonic() - started) * 1000)}
    elapsed = round((time.monotonic() - started) * 1000)
    return {"ok": True, "tool_count": len(listing.tools), "elapsed_ms": elapsed}


def save_server(request: HttpRequest, item: ServerConnection | None = None) -> HttpResponse:
    """The create/edit form. Saving an enabled server tests the connection first; when the test
    fails the form comes back with the error and a "Save anyway" button (``save_anyway``)."""
    template, extra = "registry/server_form.html", {"allow_stdio": settings.MCP_ALLOW_ORG_STDIO}
    if request.method == "POST" and not request.POST.get("save_anyway"):
        candidate = copy.copy(item) if item is not None else ServerConnection()
        form = SERVERS.form(request.POST, request.FILES, instance=candidate, ctx=request.org_ctx)
        if form.is_valid() and form.cleaned_data.get("enabled"):
            result = connection_test(form.save(commit=False))
            if not result["ok"]:
                # Typed by this user a moment ago: kept for the "Save anyway" resubmission.
                form.fields["new_credential"].widget.render_value = True
                context = {"form": form, "item": item, "kind": SERVERS, "connection_error": result, **extra}
                return render_org(request, template, context, status=400)
    return edit_item(request, SERVERS, template, item, **extra)


@org_view(REGISTRY_READ)
def server_list(request: HttpRequest, slug: str) -> HttpResponse:
    return render_org(
        request,
        "registry/server_list.html",
        list_items(request, SERVERS),
        fragment="registry/partials/server_rows.html",
    )


@org_view(REGISTRY_WRITE)
def server_create(request: HttpRequest, slug: str) -> HttpResponse:
    return save_server(request)


@org_view(REGISTRY_READ)
def server_detail(request: HttpRequest, slug: str, item_id: str) -> HttpResponse:
    server = visible_item(request, SERVERS, item_id)
    return render_org(request, "registry/server_detail.html", {"item": server, "kind": SERVERS})


@require_POST
@org_view(TOOLS_CALL)
def server_tools(request: HttpRequest, slug: str, item_id: str) -> HttpResponse:
    """Connect and show the server's tools (name, description, input schema) or the error.

    A live connection: a POST (the page asks for it) with the right to call tools, never a GET."""
    server = visible_item(request, SERVERS, item_id)
    context = {"item": server, "kind": SERVERS, "probe": probe(server)}
    return render_org(
        request, "registry/server_detail.html", context, fragment="registry/partials/server_tools.html"
    )


@require_POST
@org_view(TOOLS_CALL)
def server_test(request: HttpRequest, slug: str, item_id: str) -> HttpResponse:
    """Test the connection: a real handshake and listing; the result in a small panel."""
    server = visible_item(request, SERVERS, item_id)
    context = {"item": server, "kind": SERVERS, "probe": probe(server), "tested": True}
    return render_org(
        request, "registry/server_detail.html", context, fragment="registry/partials/server_test.html"
    )


@org_view(REGISTRY_WRITE)
def server_edit(request: HttpRequest, slug: str, item_id: str) -> HttpResponse:
    return save_server(request, own_item(request, SERVERS, item_id))


@require_POST
@org_view(REGISTRY_WRITE)
def server_toggle(request: HttpRequest, slug: str, item_id: str) -> HttpResponse:
    server = own_item(request, SERVERS, item_id)
    server.enabled = not server.enabled
    server.save(update_fields=["enabled", "updated_at"])
    state = "enabled: its tools are offered" if server.enabled else "disabled: its tools are hidden"
    messages.success(request, f"{server.name} is {state}.")
    back = request.POST.get("next", "")
    if not back.startswith(f"/o/{slug}/") or "//" in back:
        back = SERVERS.detail_url(slug, server)
    return redirect_org(request, back)


@require_POST
@org_view(REGISTRY_WRITE)
def server_allowlist(request: HttpRequest, slug: str, item_id: str) -> HttpResponse:
    """Save the allowlist from the tool checkboxes. All tools checked means no allowlist."""
    server = own_item(request, SERVERS, item_id)
    chosen = sorted({name.strip() for name in request.POST.getlist("tools") if name.strip()})
    offered = {name.strip() for name in request.POST.getlist("offered") if name.strip()}
    if not chosen:
        messages.error(request, "Choose at least one tool (or disable the server to offer none).")
        context = {"item": server, "kind": SERVERS}
        return render_org(request, "registry/server_detail.html", context, status=400)
    server.tool_allowlist = [] if offered and set(chosen) >= offered else chosen
    server.save(update_fields=["tool_allowlist", "updated_at"])
    if server.tool_allowlist:
        messages.success(request, f"{server.name} now offers {len(chosen)} tool(s): {', '.join(chosen)}.")
    else:
        messages.success(request, f"{server.name} offers every tool.")
    return redirect_org(request, SERVERS.detail_url(slug, server))


@require_POST
@org_view(REGISTRY_WRITE)
def server_delete(request: HttpRequest, slug: str, item_id: str) -> HttpResponse:
    return delete_item(request, SERVERS, item_id)


@require_POST
@org_view(REGISTRY_WRITE)
def server_override(request: HttpRequest, slug: str, item_id: str) -> HttpResponse:
    return override_item(request, SERVERS, item_id)
