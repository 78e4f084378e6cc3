"""What an organization sees through the gateway: prompts, resources, templates, pagination,
isolation between organizations, and changes visible on the next request."""

from __future__ import annotations

import base64

import pytest
from asgiref.sync import sync_to_async

from omni.registry.models import Prompt, Resource, ServerConnection
from tests.gateway.conftest import connect
from tests.gateway.world import PNG_1X1, make_tenant

pytestmark = pytest.mark.live


async def _all_tools(client) -> list:
    tools, cursor = [], None
    while True:
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            return tools


@pytest.fixture
def paged_server(live_server_factory):
    server = live_server_factory.start(name="paged", env={"MCP_PAGE_SIZE": "5"})
    yield server
    server.stop()


async def test_22_namespaced_tools_with_schemas(live_server, acme):
    async with connect(live_server.mcp_url, acme.key, mode="legacy") as client:
        tools = await _all_tools(client)
    names = [t.name for t in tools]
    assert len(names) == 22 and len(set(names)) == 22
    assert {n.split("__")[0] for n in names} == {"knowledge", "utilities", "analytics"}
    for tool in tools:
        assert tool.input_schema["type"] == "object", tool.name
        assert tool.description, tool.name


async def test_pagination_walks_every_list(paged_server, acme):
    async with connect(paged_server.mcp_url, acme.key, mode="legacy") as client:
        first = await client.list_tools()
        assert len(first.tools) == 5 and first.next_cursor
        tools = await _all_tools(client)
        assert len(tools) == 22 and len({t.name for t in tools}) == 22
        prompts = await client.list_prompts()
        assert len(prompts.prompts) == 2 and prompts.next_cursor is None


async def test_prompts_resources_and_templates(live_server, acme):
    async with connect(live_server.mcp_url, acme.key, mode="legacy") as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
        assert set(prompts) == {"greet", "acme_only"}
        assert [(a.name, a.required) for a in prompts["greet"].arguments] == [("who", True), ("tone", False)]
        rendered = await client.get_prompt("greet", {"who": "Ada", "tone": "warmly"})
        assert [m.role for m in rendered.messages] == ["user", "assistant"]
        assert rendered.messages[0].content.text == "acme says hello to Ada warmly"
        assert rendered.messages[1].content.text == "Hello Ada!"

        resources = {r.uri: r for r in (await client.list_resources()).resources}
        assert set(resources) == {"memo://acme/readme", "memo://acme/logo.png"}
        assert resources["memo://acme/readme"].mime_type == "text/markdown"
        text = await client.read_resource("memo://acme/readme")
        assert text.contents[0].text == "# acme readme"
        blob = await client.read_resource("memo://acme/logo.png")
        assert base64.b64decode(blob.contents[0].blob) == PNG_1X1
        assert blob.contents[0].mime_type == "image/png"

        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["topics://{topic}/summary"]
        from_template = await client.read_resource("topics://mcp/summary")
        assert from_template.contents[0].text == "acme summary of mcp"


async def test_organizations_are_isolated(live_server, acme, globex):
    async with connect(live_server.mcp_url, acme.key) as a, connect(live_server.mcp_url, globex.key) as g:
        created = await a.call_tool(
            "knowledge__create_note", {"title": "acme plan", "body": "secret launch date", "tags": ["plan"]}
        )
        assert not created.is_error
        note_id = created.structured_content["id"]

        found = await g.call_tool("knowledge__search_notes", {"query": "secret launch"})
        assert "acme plan" not in str(found.structured_content)
        fetched = await g.call_tool("knowledge__get_note", {"id": note_id})
        assert fetched.is_error
        deleted = await g.call_tool("knowledge__delete_note", {"id": note_id})
        assert deleted.is_error
        still = await a.call_tool("knowledge__get_note", {"id": note_id})
        assert not still.is_error and still.structured_content["title"] == "acme plan"

        globex_prompts = {p.name for p in (await g.list_prompts()).prompts}
        assert "acme_only" not in globex_prompts and "globex_only" in globex_prompts
        globex_resources = {r.uri for r in (await g.list_resources()).resources}
        assert not any(uri.startswith("memo://acme/") for uri in globex_resources)
        with pytest.raises(Exception, match="not found"):
            await g.read_resource("memo://acme/readme")
        with pytest.raises(Exception, match="Unknown prompt"):
            await g.get_prompt("acme_only")


def _disable(org, name: str) -> None:
    connection = ServerConnection.objects.get(organization=org, name=name)
    connection.enabled = False
    connection.save()


def _allow(org, name: str, tools: list[str]) -> None:
    connection = ServerConnection.objects.get(organization=org, name=name)
    connection.tool_allowlist = tools
    connection.save()


def _add_prompt(org, name: str, description: str = "", text: str = "hi") -> Prompt:
    return Prompt.objects.create(
        organization=org, name=name, description=description, messages=[{"role": "user", "content": text}]
    )


async def test_registry_change_is_visible_on_next_request(live_server, committed):
    tenant = await sync_to_async(make_tenant)("delta")
    async with connect(live_server.mcp_url, tenant.key, mode="legacy") as client:
        assert "later" not in {p.name for p in (await client.list_prompts()).prompts}
        await sync_to_async(_add_prompt)(tenant.org, "later")
        assert "later" in {p.name for p in (await client.list_prompts()).prompts}

        await sync_to_async(
            lambda: Resource.objects.get(organization=tenant.org, uri="memo://delta/readme").delete()
        )()
        assert "memo://delta/readme" not in {r.uri for r in (await client.list_resources()).resources}

        await sync_to_async(_disable)(tenant.org, "utilities")
        names = {t.name for t in await _all_tools(client)}
        assert not any(n.startswith("utilities__") for n in names) and "knowledge__get_note" in names

        await sync_to_async(_allow)(tenant.org, "knowledge", ["search_notes", "get_note"])
        names = {t.name for t in await _all_tools(client)}
        assert {n for n in names if n.startswith("knowledge__")} == {
            "knowledge__search_notes",
            "knowledge__get_note",
        }
        with pytest.raises(Exception, match="Unknown tool"):
            await client.call_tool("knowledge__delete_note", {"id": "x"})


async def test_global_items_and_org_override(live_server, committed):
    tenant = await sync_to_async(make_tenant)("omega")
    other = await sync_to_async(make_tenant)("sigma")
    name = f"shared_{tenant.org.pk}"
    global_prompt = await sync_to_async(_add_prompt)(None, name, "global", "g")
    try:
        await sync_to_async(_add_prompt)(tenant.org, name, "mine", "o")
        async with (
            connect(live_server.mcp_url, tenant.key) as mine,
            connect(live_server.mcp_url, other.key) as theirs,
        ):
            own = {p.name: p for p in (await mine.list_prompts()).prompts}
            assert own[name].description == "mine"
            shared = {p.name: p for p in (await theirs.list_prompts()).prompts}
            assert shared[name].description == "global"
            assert (await theirs.get_prompt(name)).messages[0].content.text == "g"
            assert (await mine.get_prompt(name)).messages[0].content.text == "o"
    finally:
        await sync_to_async(global_prompt.delete)()  # global rows would leak into other tests' catalogues


async def test_a_call_to_a_server_still_being_listed_waits_for_its_listing(live_server_factory, committed):
    """A server added a moment ago is listed in the background; a tools/call for one of its tools
    that arrives first waits for that listing instead of answering "Unknown tool". With
    MCP_CATALOGUE_WAIT_SECONDS=0 every first listing is still pending when the call arrives."""
    import sys
    from pathlib import Path

    server = live_server_factory.start(name="pending", env={"MCP_CATALOGUE_WAIT_SECONDS": "0"})
    tenant = await sync_to_async(make_tenant)("pending", servers=())
    await sync_to_async(ServerConnection.objects.create)(
        organization=tenant.org,
        name="slow",
        transport="stdio",
        command=sys.executable,
        args=[str(Path(__file__).with_name("slow_server.py"))],
        timeout_seconds=60,
    )
    async with connect(server.mcp_url, tenant.key) as client:
        result = await client.call_tool("slow__echo", {"text": "first"})
    assert not result.is_error and "first" in result.content[0].text
