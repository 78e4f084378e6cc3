"""Access rules on canonical URIs: a deny rule on ``notes://secret/*`` refuses every spelling of a
secret note (``notes://%73ecret/summary``), in MCP, the playground API and the rule helpers alike,
and ``resources/templates/list`` applies the rules too."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from omni.registry import access
from omni.registry.access_models import AccessRule
from omni.registry.models import ResourceTemplate
from omni.tenants.models import Role
from omni.tenants.services import add_member, resolve_user_context
from tests.factories import UserFactory
from tests.gateway.world import make_tenant

SECRET_SPELLINGS = [
    "notes://secret/summary",
    "notes://%73ecret/summary",
    "notes://%73%65%63%72%65%74/summary",
    "notes://s%65cret/summary",
    "NOTES://secret/summary",
    "Notes://%73ecret/summary",
]


def test_normalize_uri():
    assert access.normalize_uri("notes://%73ecret/summary") == "notes://secret/summary"
    assert access.normalize_uri("NOTES://a%2fb/%7e%41") == "notes://a%2Fb/~A"
    assert access.normalize_uri("memo://x/100%") == "memo://x/100%"  # not an escape: unchanged
    assert access.normalize_uri("memo://%E2%82%AC") == "memo://%E2%82%AC"  # non-ASCII stays escaped


def test_uri_spellings_include_the_template_expansion():
    spellings = access.uri_spellings("notes://a%3Ab/summary", ["notes://{topic}/summary"])
    assert "notes://a%3Ab/summary" in spellings
    spellings = access.uri_spellings("notes://a:b/summary", ["notes://{topic}/summary"])
    assert spellings == ["notes://a:b/summary", "notes://a%3Ab/summary"]  # as written, as expanded
    assert access.uri_spellings("docs://x", ["notes://{topic}/summary", "bad://{"]) == ["docs://x"]


@pytest.fixture
def world(db):
    tenant = make_tenant("canon")
    org = tenant.org
    ResourceTemplate.objects.create(
        organization=org, uri_template="notes://{topic}/summary", name="notes", text_template="note {topic}"
    )
    ResourceTemplate.objects.create(
        organization=org, uri_template="vault://{item}", name="vault", text_template="vault {item}"
    )
    for pattern in ("notes://secret/*", "vault://*", "enc://%73ecret/*"):
        AccessRule.objects.create(
            organization=org, role="member", kind="resource", pattern=pattern, effect="deny"
        )
    member = UserFactory(username=f"member-{uuid.uuid4().hex[:8]}")
    add_member(org, member, Role.MEMBER)
    return tenant, member


@pytest.mark.parametrize("uri", SECRET_SPELLINGS)
def test_rule_helpers_deny_every_spelling(world, uri):
    tenant, member = world
    ctx = resolve_user_context(member, tenant.org.slug)
    rules = access.load_rules(ctx)
    assert not rules.allows_uri(ctx, uri, ["notes://{topic}/summary"])
    assert rules.allows_uri(ctx, "notes://public/summary", ["notes://{topic}/summary"])
    assert not access.allowed(ctx, "resource", "enc://secret/x")  # an escaped pattern: normalised too
    assert access.visible(ctx, "resource", ["notes://%73ecret/a", "notes://open/a"]) == {"notes://open/a"}


def _api(member) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=member)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def _run(member, slug: str, operation: str, params: dict) -> dict:
    response = _api(member).post(
        "/api/test/mcp", {"organization": slug, "operation": operation, "params": params}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()["results"][0]


@pytest.mark.parametrize("uri", SECRET_SPELLINGS[:3])
def test_playground_api_refuses_every_spelling(world, uri):
    tenant, member = world
    refused = _run(member, tenant.org.slug, "resources/read", {"uri": uri})
    assert refused["outcome"] == "error" and "not found" in refused["error"]["message"].lower(), refused
    allowed = _run(member, tenant.org.slug, "resources/read", {"uri": "notes://public/summary"})
    assert allowed["outcome"] == "ok" and allowed["response"]["contents"][0]["text"] == "note public"


def test_playground_api_templates_list_applies_the_rules(world):
    tenant, member = world
    listed = _run(member, tenant.org.slug, "resources/templates/list", {})
    templates = {t["uriTemplate"] for t in listed["response"]["resourceTemplates"]}
    assert "notes://{topic}/summary" in templates and "topics://{topic}/summary" in templates
    assert "vault://{item}" not in templates  # "deny vault://*" covers the whole template
    owner = UserFactory(username=f"owner-{uuid.uuid4().hex[:8]}")
    add_member(tenant.org, owner, Role.OWNER)  # the rules name the member role only
    listed = _run(owner, tenant.org.slug, "resources/templates/list", {})
    assert "vault://{item}" in {t["uriTemplate"] for t in listed["response"]["resourceTemplates"]}


@pytest.mark.live
async def test_mcp_clients_cannot_read_a_denied_resource_by_another_spelling(live_server, committed):
    from tests.gateway.conftest import connect

    def setup():
        tenant = make_tenant("canon-live")
        ResourceTemplate.objects.create(
            organization=tenant.org,
            uri_template="notes://{topic}/summary",
            name="n",
            text_template="note {topic}",
        )
        ResourceTemplate.objects.create(
            organization=tenant.org, uri_template="vault://{item}", name="v", text_template="vault {item}"
        )
        for pattern in ("notes://secret/*", "vault://*"):
            AccessRule.objects.create(
                organization=tenant.org, role="member", kind="resource", pattern=pattern, effect="deny"
            )
        return tenant

    tenant = await sync_to_async(setup)()
    async with connect(live_server.mcp_url, tenant.key) as client:  # an API key acts as a member
        for uri in SECRET_SPELLINGS[:4]:
            with pytest.raises(Exception, match="not found"):
                await client.read_resource(uri)
        public = await client.read_resource("notes://public/summary")
        assert public.contents[0].text == "note public"
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert "notes://{topic}/summary" in templates and "vault://{item}" not in templates
    await sync_to_async(connections.close_all)()
