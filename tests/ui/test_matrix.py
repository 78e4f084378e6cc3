"""The permission matrix: every UI URL under /o/<slug>/ against every role.

Anonymous users are sent to the login page, outsiders (no membership, or a member of another
organization) get 404 on every URL, a role without the capability gets 403, and a role with it
gets the page or the change (with the status the URL answers on success).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from omni.registry.models import Prompt, Resource, ServerConnection
from omni.tenants.context import OrgContext
from omni.tenants.invitations import create_invitation
from omni.tenants.models import Membership
from omni.tenants.permissions import (
    KEYS_MANAGE,
    LOADTEST_READ,
    LOADTEST_RUN,
    MEMBERS_MANAGE,
    ORG_MANAGE,
    PROMPTS_READ,
    REGISTRY_READ,
    REGISTRY_WRITE,
    RESOURCES_READ,
    TOOLS_CALL,
    USAGE_READ,
    role_capabilities,
)
from tests.factories import (
    ApiKeyFactory,
    LoadRunFactory,
    PromptFactory,
    ResourceFactory,
    ServerConnectionFactory,
    UserFactory,
)


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str  # with {slug}, {prompt}, {gprompt}, {resource}, {gresource}, {server}, {gserver}, {key}, ...
    capability: str | None  # None: any member
    ok: int
    data: dict = field(default_factory=dict)


PROMPT_DATA = {
    "name": "made_in_matrix",
    "messages": '[{"role": "user", "content": "hi {who}"}]',
    "arguments": '[{"name": "who", "required": true}]',
}
RESOURCE_DATA = {"uri": "docs://matrix/new", "name": "new", "mime_type": "text/plain", "text": "x"}
SERVER_DATA = {
    "name": "matrix-http",
    "transport": "streamable_http",
    "url": "https://mcp.example.com/mcp",
    "enabled": "on",
    "timeout_seconds": "5",
    "save_anyway": "1",  # nothing listens there: save without the connection test's verdict
}

LOAD_PROFILE_YAML = """name: matrix-profile
mode: "2026-07-28"
target: gateway
operations:
  - tools/list
arrival: {model: closed, users: 1}
duration: 1s
"""

ROUTES = [
    Route("dashboard", "get", "/o/{slug}/", None, 200),
    Route("members", "get", "/o/{slug}/members/", None, 200),
    Route(
        "invite_create",
        "post",
        "/o/{slug}/members/invite/",
        MEMBERS_MANAGE,
        302,
        {"email": "matrix@example.org", "role": "viewer"},
    ),
    Route("invite_revoke", "post", "/o/{slug}/members/invitations/{invitation}/revoke/", MEMBERS_MANAGE, 302),
    Route("member_role", "post", "/o/{slug}/members/{member}/role/", MEMBERS_MANAGE, 302, {"role": "viewer"}),
    Route("member_remove", "post", "/o/{slug}/members/{member}/remove/", MEMBERS_MANAGE, 302),
    Route("org_settings", "post", "/o/{slug}/members/settings/", ORG_MANAGE, 302, {"name": "Renamed"}),
    Route("keys", "get", "/o/{slug}/keys/", None, 200),
    Route(
        "key_create", "post", "/o/{slug}/keys/new/", KEYS_MANAGE, 201, {"name": "k", "scopes": "tools:call"}
    ),
    Route("key_revoke", "post", "/o/{slug}/keys/{key}/revoke/", KEYS_MANAGE, 302),
    Route("servers", "get", "/o/{slug}/servers/", REGISTRY_READ, 200),
    Route("server_create_form", "get", "/o/{slug}/servers/new/", REGISTRY_WRITE, 200),
    Route("server_create", "post", "/o/{slug}/servers/new/", REGISTRY_WRITE, 302, SERVER_DATA),
    Route("server_detail", "get", "/o/{slug}/servers/{server}/", REGISTRY_READ, 200),
    Route("global_server_detail", "get", "/o/{slug}/servers/{gserver}/", REGISTRY_READ, 200),
    Route("server_tools", "post", "/o/{slug}/servers/{server}/tools/", TOOLS_CALL, 200),
    Route("server_test", "post", "/o/{slug}/servers/{server}/test/", TOOLS_CALL, 200),
    Route("server_edit_form", "get", "/o/{slug}/servers/{server}/edit/", REGISTRY_WRITE, 200),
    Route("server_edit", "post", "/o/{slug}/servers/{server}/edit/", REGISTRY_WRITE, 302, SERVER_DATA),
    Route("server_toggle", "post", "/o/{slug}/servers/{server}/toggle/", REGISTRY_WRITE, 302),
    Route(
        "server_allowlist",
        "post",
        "/o/{slug}/servers/{server}/allowlist/",
        REGISTRY_WRITE,
        302,
        {"tools": "calculate"},
    ),
    Route("server_delete", "post", "/o/{slug}/servers/{server}/delete/", REGISTRY_WRITE, 302),
    Route("server_override", "post", "/o/{slug}/servers/{gserver}/override/", REGISTRY_WRITE, 302),
    Route("prompts", "get", "/o/{slug}/prompts/", PROMPTS_READ, 200),
    Route("prompt_create_form", "get", "/o/{slug}/prompts/new/", REGISTRY_WRITE, 200),
    Route("prompt_create", "post", "/o/{slug}/prompts/new/", REGISTRY_WRITE, 302, PROMPT_DATA),
    Route("prompt_detail", "get", "/o/{slug}/prompts/{prompt}/", PROMPTS_READ, 200),
    Route("global_prompt_detail", "get", "/o/{slug}/prompts/{gprompt}/", PROMPTS_READ, 200),
    Route("prompt_preview", "get", "/o/{slug}/prompts/{prompt}/preview/?arg_topic=x", PROMPTS_READ, 200),
    Route("prompt_edit_form", "get", "/o/{slug}/prompts/{prompt}/edit/", REGISTRY_WRITE, 200),
    Route("prompt_edit", "post", "/o/{slug}/prompts/{prompt}/edit/", REGISTRY_WRITE, 302, PROMPT_DATA),
    Route("prompt_delete", "post", "/o/{slug}/prompts/{prompt}/delete/", REGISTRY_WRITE, 302),
    Route("prompt_override", "post", "/o/{slug}/prompts/{gprompt}/override/", REGISTRY_WRITE, 302),
    Route("resources", "get", "/o/{slug}/resources/", RESOURCES_READ, 200),
    Route("resource_create_form", "get", "/o/{slug}/resources/new/", REGISTRY_WRITE, 200),
    Route("resource_create", "post", "/o/{slug}/resources/new/", REGISTRY_WRITE, 302, RESOURCE_DATA),
    Route("resource_detail", "get", "/o/{slug}/resources/{resource}/", RESOURCES_READ, 200),
    Route("resource_content", "get", "/o/{slug}/resources/{resource}/content/", RESOURCES_READ, 200),
    Route("resource_edit_form", "get", "/o/{slug}/resources/{resource}/edit/", REGISTRY_WRITE, 200),
    Route(
        "resource_edit", "post", "/o/{slug}/resources/{resource}/edit/", REGISTRY_WRITE, 302, RESOURCE_DATA
    ),
    Route("resource_delete", "post", "/o/{slug}/resources/{resource}/delete/", REGISTRY_WRITE, 302),
    Route("resource_override", "post", "/o/{slug}/resources/{gresource}/override/", REGISTRY_WRITE, 302),
    Route("usage", "get", "/o/{slug}/usage/", USAGE_READ, 200),
    Route("usage_csv", "get", "/o/{slug}/usage/?fmt=csv&range=7d", USAGE_READ, 200),
    Route("loadtests", "get", "/o/{slug}/loadtests/", LOADTEST_READ, 200),
    Route("loadtest_run", "get", "/o/{slug}/loadtests/runs/{loadrun}/", LOADTEST_READ, 200),
    Route("loadtest_profiles", "get", "/o/{slug}/loadtests/profiles/", LOADTEST_READ, 200),
    Route("loadtest_trend", "get", "/o/{slug}/loadtests/trend/?profile=smoke", LOADTEST_READ, 200),
    Route("loadtest_start_form", "get", "/o/{slug}/loadtests/start/", LOADTEST_RUN, 200),
    Route(
        "loadtest_profile_create",
        "post",
        "/o/{slug}/loadtests/profiles/new/",
        LOADTEST_RUN,
        302,
        {"name": "matrix-profile", "source": LOAD_PROFILE_YAML, "schedule": ""},
    ),
    Route("loadtest_cancel", "post", "/o/{slug}/loadtests/runs/{loadrun}/cancel/", LOADTEST_RUN, 302),
]
ROLES = ["owner", "admin", "member", "viewer"]


@pytest.fixture
def objects(world) -> dict[str, str]:
    """One item of each kind in acme, one global of each kind, a key and a removable member."""
    acme = world.acme
    victim = UserFactory(username=f"victim-{acme.slug}")
    Membership.objects.create(user=victim, organization=acme, role="member")
    return {
        "slug": acme.slug,
        "prompt": str(PromptFactory(organization=acme, name="own_prompt").uuid),
        "gprompt": str(PromptFactory(name=f"global_{acme.slug}").uuid),
        "resource": str(ResourceFactory(organization=acme, uri="docs://acme/own").uuid),
        "gresource": str(ResourceFactory(uri=f"docs://global/{acme.slug}").uuid),
        "server": str(ServerConnectionFactory(organization=acme, name="own-utils").uuid),
        "gserver": str(ServerConnectionFactory(name=f"g-{acme.slug}").uuid),
        "key": str(ApiKeyFactory(organization=acme).pk),
        "member": victim.username,
        "loadrun": str(LoadRunFactory(organization=acme, status="completed").uuid),
        "invitation": str(
            create_invitation(
                OrgContext(organization=acme, principal="test", role="owner"),
                f"invitee-{acme.slug}@example.org",
                "member",
                invited_by=None,
            ).invitation.pk
        ),
    }


def _request(client, route: Route, objects: dict[str, str]):
    path = route.path.format(**objects)
    data = dict(route.data)
    return getattr(client, route.method)(path, data) if route.method == "post" else client.get(path)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(world, login, objects, role, route):
    response = _request(login(world.user(role)), route, objects)
    allowed = route.capability is None or route.capability in role_capabilities(role)
    expected = route.ok if allowed else 403
    assert response.status_code == expected, (
        role,
        route.name,
        response.content[:500],
    )


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
@pytest.mark.parametrize("who", ["outsider", "other_org_member"])
def test_outsiders_get_404_everywhere(world, login, objects, who, route):
    user = world.outsider if who == "outsider" else world.member  # world.member belongs to globex
    response = _request(login(user), route, objects)
    assert response.status_code == 404


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_anonymous_is_sent_to_login(client, world, objects, route):
    response = _request(client, route, objects)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_unknown_organization_is_404_like_a_foreign_one(world, login):
    assert login(world.owner).get("/o/no-such-org-anywhere/prompts/").status_code == 404


def test_objects_of_another_organization_are_404_in_this_one(world, login):
    """An acme owner naming a globex item under /o/acme/ sees nothing: scoping is by organization."""
    foreign_prompt = PromptFactory(organization=world.globex, name="secret_plan")
    foreign_resource = ResourceFactory(organization=world.globex, uri="docs://globex/secret")
    foreign_server = ServerConnectionFactory(organization=world.globex, name="globex-secret")
    foreign_key = ApiKeyFactory(organization=world.globex)
    client = login(world.owner)
    slug = world.acme.slug
    for path in [
        f"/o/{slug}/prompts/{foreign_prompt.uuid}/",
        f"/o/{slug}/prompts/{foreign_prompt.uuid}/edit/",
        f"/o/{slug}/resources/{foreign_resource.uuid}/content/",
        f"/o/{slug}/servers/{foreign_server.uuid}/",
    ]:
        assert client.get(path).status_code == 404, path
    assert client.post(f"/o/{slug}/prompts/{foreign_prompt.uuid}/delete/").status_code == 404
    assert client.post(f"/o/{slug}/keys/{foreign_key.pk}/revoke/").status_code == 404
    assert client.post(f"/o/{slug}/members/{world.member.username}/remove/").status_code == 404
    # Nothing of globex changed.
    assert Prompt.objects.filter(pk=foreign_prompt.pk).exists()
    foreign_key.refresh_from_db()
    assert foreign_key.revoked_at is None
    assert Resource.objects.filter(pk=foreign_resource.pk).exists()
    assert ServerConnection.objects.filter(pk=foreign_server.pk).exists()


def test_global_items_cannot_be_changed_in_place(world, login):
    prompt = PromptFactory(name=f"global_ro_{world.acme.slug}")
    client = login(world.owner)
    slug = world.acme.slug
    assert client.get(f"/o/{slug}/prompts/{prompt.uuid}/edit/").status_code == 403
    assert client.post(f"/o/{slug}/prompts/{prompt.uuid}/delete/").status_code == 403
    assert Prompt.objects.filter(pk=prompt.pk, organization__isnull=True).exists()
