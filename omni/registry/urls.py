"""Registry UI: MCP servers, prompts and resources of an organization (``/o/<slug>/...``)."""

from django.urls import path

from omni.registry.views import prompts, resources, servers

app_name = "registry"

ORG = "o/<slug:slug>"
ITEM = "<uuid:item_id>"

urlpatterns = [
    path(f"{ORG}/servers/", servers.server_list, name="servers"),
    path(f"{ORG}/servers/new/", servers.server_create, name="server_create"),
    path(f"{ORG}/servers/{ITEM}/", servers.server_detail, name="server_detail"),
    path(f"{ORG}/servers/{ITEM}/edit/", servers.server_edit, name="server_edit"),
    path(f"{ORG}/servers/{ITEM}/tools/", servers.server_tools, name="server_tools"),
    path(f"{ORG}/servers/{ITEM}/test/", servers.server_test, name="server_test"),
    path(f"{ORG}/servers/{ITEM}/toggle/", servers.server_toggle, name="server_toggle"),
    path(f"{ORG}/servers/{ITEM}/allowlist/", servers.server_allowlist, name="server_allowlist"),
    path(f"{ORG}/servers/{ITEM}/delete/", servers.server_delete, name="server_delete"),
    path(f"{ORG}/servers/{ITEM}/override/", servers.server_override, name="server_override"),
    path(f"{ORG}/prompts/", prompts.prompt_list, name="prompts"),
    path(f"{ORG}/prompts/new/", prompts.prompt_create, name="prompt_create"),
    path(f"{ORG}/prompts/{ITEM}/", prompts.prompt_detail, name="prompt_detail"),
    path(f"{ORG}/prompts/{ITEM}/edit/", prompts.prompt_edit, name="prompt_edit"),
    path(f"{ORG}/prompts/{ITEM}/preview/", prompts.prompt_preview, name="prompt_preview"),
    path(f"{ORG}/prompts/{ITEM}/delete/", prompts.prompt_delete, name="prompt_delete"),
    path(f"{ORG}/prompts/{ITEM}/override/", prompts.prompt_override, name="prompt_override"),
    path(f"{ORG}/resources/", resources.resource_list, name="resources"),
    path(f"{ORG}/resources/new/", resources.resource_create, name="resource_create"),
    path(f"{ORG}/resources/{ITEM}/", resources.resource_detail, name="resource_detail"),
    path(f"{ORG}/resources/{ITEM}/edit/", resources.resource_edit, name="resource_edit"),
    path(f"{ORG}/resources/{ITEM}/content/", resources.resource_content, name="resource_content"),
    path(f"{ORG}/resources/{ITEM}/delete/", resources.resource_delete, name="resource_delete"),
    path(f"{ORG}/resources/{ITEM}/override/", resources.resource_override, name="resource_override"),
]
