"""The override rule, tenant isolation and query budgets of the effective_* services."""

import uuid

import pytest
from asgiref.sync import async_to_sync

from omni.registry import services
from omni.registry.models import Prompt
from omni.tenants.services import resolve_user_context
from tests.factories import (
    PromptFactory,
    ResourceFactory,
    ResourceTemplateFactory,
    ServerConnectionFactory,
)


@pytest.fixture
def tag() -> str:
    """A unique marker: other tests may have committed global rows, so only ours are compared."""
    return uuid.uuid4().hex[:8]


def mine(items, tag):
    return [item for item in items if tag in item.override_key]


def test_org_item_overrides_the_global_one(world, tag):
    PromptFactory(name=f"a_{tag}", title="global a")
    PromptFactory(name=f"b_{tag}", title="global b")
    PromptFactory(name=f"b_{tag}", title="acme b", organization=world.acme)
    PromptFactory(name=f"c_{tag}", title="acme c", organization=world.acme)
    acme = mine(services.effective_prompts(world.acme), tag)
    assert [(p.name, p.title) for p in acme] == [
        (f"a_{tag}", "global a"),
        (f"b_{tag}", "acme b"),
        (f"c_{tag}", "acme c"),
    ]
    globex = mine(services.effective_prompts(world.globex), tag)
    assert [(p.name, p.title) for p in globex] == [(f"a_{tag}", "global a"), (f"b_{tag}", "global b")]


def test_acme_items_are_invisible_to_globex(world, tag):
    PromptFactory(name=f"secret_{tag}", organization=world.acme)
    ResourceFactory(uri=f"memo://{tag}/secret", organization=world.acme)
    ResourceTemplateFactory(name=f"t_{tag}", organization=world.acme)
    ServerConnectionFactory(name=f"s-{tag}", organization=world.acme)
    for org, expected in ((world.acme, 1), (world.globex, 0)):
        assert len(mine(services.effective_prompts(org), tag)) == expected
        assert len(mine(services.effective_resources(org), tag)) == expected
        assert len(mine(services.effective_resource_templates(org), tag)) == expected
        assert len(mine(services.effective_servers(org), tag)) == expected
    assert services.get_prompt(world.globex, f"secret_{tag}") is None
    assert services.get_resource(world.globex, f"memo://{tag}/secret") is None
    assert services.get_prompt(world.acme, f"secret_{tag}").organization == world.acme
    # Through a member's context too: globex's member cannot reach acme's rows.
    ctx = resolve_user_context(world.member, world.globex.slug)
    assert not Prompt.objects.for_org(ctx).filter(name=f"secret_{tag}").exists()
    assert Prompt.objects.owned_by(world.acme).filter(name=f"secret_{tag}").exists()


def test_resources_override_by_uri_and_sort_by_uri(world, tag):
    ResourceFactory(uri=f"b://{tag}", text="global b")
    ResourceFactory(uri=f"a://{tag}", text="global a")
    ResourceFactory(uri=f"b://{tag}", text="acme b", organization=world.acme)
    acme = mine(services.effective_resources(world.acme), tag)
    assert [(r.uri, r.text) for r in acme] == [(f"a://{tag}", "global a"), (f"b://{tag}", "acme b")]
    assert services.get_resource(world.acme, f"b://{tag}").text == "acme b"
    assert services.get_resource(world.globex, f"b://{tag}").text == "global b"


def test_servers_enabled_only_applies_after_the_override(world, tag):
    ServerConnectionFactory(name=f"on-{tag}")
    ServerConnectionFactory(name=f"off-{tag}", enabled=False)
    ServerConnectionFactory(name=f"hidden-{tag}")
    # acme hides a global server by overriding it with a disabled one
    ServerConnectionFactory(name=f"hidden-{tag}", organization=world.acme, enabled=False)
    names = lambda servers: [s.name for s in mine(servers, tag)]  # noqa: E731
    assert names(services.effective_servers(world.acme)) == [f"on-{tag}"]
    assert names(services.effective_servers(world.globex)) == [f"hidden-{tag}", f"on-{tag}"]
    everything = mine(services.effective_servers(world.acme, enabled_only=False), tag)
    assert [(s.name, s.organization_id) for s in everything] == [
        (f"hidden-{tag}", world.acme.pk),
        (f"off-{tag}", None),
        (f"on-{tag}", None),
    ]


def test_async_twins_match_the_sync_functions(world, tag):
    PromptFactory(name=f"p_{tag}")
    PromptFactory(name=f"p_{tag}", organization=world.acme, title="acme")
    ResourceFactory(uri=f"r://{tag}")
    ResourceTemplateFactory(name=f"t_{tag}")
    ServerConnectionFactory(name=f"s-{tag}")
    ServerConnectionFactory(name=f"x-{tag}", enabled=False)
    pairs = [
        (services.effective_prompts, services.aeffective_prompts),
        (services.effective_resources, services.aeffective_resources),
        (services.effective_resource_templates, services.aeffective_resource_templates),
        (services.effective_servers, services.aeffective_servers),
    ]
    for sync, async_ in pairs:
        assert async_to_sync(async_)(world.acme) == sync(world.acme)
    assert async_to_sync(services.aeffective_servers)(world.acme, enabled_only=False) == (
        services.effective_servers(world.acme, enabled_only=False)
    )
    assert async_to_sync(services.aget_prompt)(world.acme, f"p_{tag}").title == "acme"
    assert async_to_sync(services.aget_resource)(world.globex, f"r://{tag}") is not None


@pytest.mark.parametrize(
    "function",
    [
        services.effective_prompts,
        services.effective_resources,
        services.effective_resource_templates,
        services.effective_servers,
    ],
)
def test_one_query_each_however_many_items(world, tag, function, django_assert_num_queries):
    for i in range(5):
        PromptFactory(name=f"p{i}_{tag}", organization=world.acme if i % 2 else None)
        ResourceFactory(uri=f"r{i}://{tag}", organization=world.acme if i % 2 else None)
        ResourceTemplateFactory(name=f"t{i}_{tag}", organization=world.acme if i % 2 else None)
        ServerConnectionFactory(name=f"s{i}-{tag}", organization=world.acme if i % 2 else None)
    ctx = resolve_user_context(world.owner, world.acme.slug)
    with django_assert_num_queries(1):
        items = function(ctx)
        # reading what the gateway reads must not trigger more queries
        for item in items:
            _ = (item.override_key, item.is_global, item.uuid)
    assert len(mine(items, tag)) == 5


@pytest.mark.parametrize(
    "function",
    [
        services.aeffective_prompts,
        services.aeffective_resources,
        services.aeffective_resource_templates,
        services.aeffective_servers,
    ],
)
def test_async_twins_use_one_query(world, function, django_assert_num_queries):
    PromptFactory(organization=world.acme)
    with django_assert_num_queries(1):
        async_to_sync(function)(world.acme)
