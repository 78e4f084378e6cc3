"""Resources completely, logging and completion through the gateway (issue 11, items 3 and 4):
downstream resource templates, reads of unlisted URIs (templates, resource links from tools),
access rules on them, resources/subscribe with relayed updates, logging/setLevel per session, and
completion/complete from the database and from servers. Real daphne processes, the official SDK
client (legacy and 2026-07-28), and a real stdio server written with the SDK
(``resources_server.py``)."""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import anyio
import httpx2
import mcp_types as types
import pytest
from asgiref.sync import sync_to_async
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from omni.registry.access_models import AccessRule
from omni.registry.models import Prompt, Resource, ServerConnection
from tests.gateway import rawmcp
from tests.gateway.conftest import connect
from tests.gateway.world import Tenant

pytestmark = [
    pytest.mark.live,
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

RESOURCES_SERVER = str(Path(__file__).with_name("resources_server.py"))
V = "2025-11-25"
MODES = ["legacy", "auto"]  # auto: the SDK probes and speaks 2026-07-28


def _add_server(tenant: Tenant, name: str = "res") -> None:
    ServerConnection.objects.create(
        organization=tenant.org,
        name=name,
        transport="stdio",
        command=sys.executable,
        args=[RESOURCES_SERVER],
        timeout_seconds=30,
    )


async def _with_server(tenant: Tenant, url: str) -> Tenant:
    """Register the resources server for ``tenant`` and wait (bounded) until the gateway at ``url``
    lists it: a server added a moment ago may still be listing."""
    await sync_to_async(_add_server)(tenant)
    return await _listed(tenant, url)


async def _listed(tenant: Tenant, url: str) -> Tenant:
    names: set[str] = set()
    async with connect(url, tenant.key) as client:
        for _ in range(120):
            names = {tool.name for tool in (await client.list_tools()).tools}
            if "res__make_link" in names:
                return tenant
            await anyio.sleep(0.5)
    raise AssertionError(f"the resources server was never listed: {sorted(names)}")


def _text(result: types.ReadResourceResult) -> str:
    return result.contents[0].text  # type: ignore[union-attr]


async def _subscribe(client, uri: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        await client.subscribe_resource(uri)


async def _unsubscribe(client, uri: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        await client.unsubscribe_resource(uri)


# --------------------------------------------------------------------------- templates and reads
@pytest.mark.parametrize("mode", MODES)
async def test_templates_listed_namespaced_and_read(live_server, acme, globex, mode):
    """A server's template is listed namespaced beside the database's; a URI that it matches, a
    listed one and the database's are read; another organization sees none of it."""
    await _with_server(acme, live_server.mcp_url)
    async with connect(live_server.mcp_url, acme.key, mode=mode) as client:
        templates = {
            t.name: t.uri_template for t in (await client.list_resource_templates()).resource_templates
        }
        assert templates["res__file"] == "files://{name}/content"
        assert templates["topic_summary"] == "topics://{topic}/summary"  # the database's, unchanged
        assert _text(await client.read_resource("files://zeta/content")) == "content of zeta"  # never listed
        assert _text(await client.read_resource("files://listed/readme")) == "the listed readme"
        assert _text(await client.read_resource("topics://rain/summary")) == "acme summary of rain"
        with pytest.raises(MCPError, match="not found"):
            await client.read_resource("elsewhere://zeta")
    async with connect(live_server.mcp_url, globex.key, mode=mode) as other:
        names = {t.name for t in (await other.list_resource_templates()).resource_templates}
        assert "res__file" not in names and "topic_summary" in names
        with pytest.raises(MCPError, match="not found"):
            await other.read_resource("files://zeta/content")


async def test_resource_links_from_tools_are_read_back_per_organization(live_server, acme, globex):
    """A URI that a tool hands out (never listed, no template) is read back through the gateway by
    the organization it was handed to only, also when the other one uses the same server."""
    await _with_server(acme, live_server.mcp_url)
    await _with_server(globex, live_server.mcp_url)
    async with (
        connect(live_server.mcp_url, acme.key) as mine,
        connect(live_server.mcp_url, globex.key, mode="legacy") as theirs,
    ):
        with pytest.raises(MCPError, match="not found"):
            await mine.read_resource("secret://k1")  # not handed out yet
        result = await mine.call_tool("res__make_link", {"name": "k1"})
        link = result.content[0]
        assert isinstance(link, types.ResourceLink) and str(link.uri) == "secret://k1"
        assert _text(await mine.read_resource("secret://k1")) == "linked k1"
        with pytest.raises(MCPError, match="not found"):
            await theirs.read_resource("secret://k1")
        await theirs.call_tool("res__make_link", {"name": "k2"})
        assert _text(await theirs.read_resource("secret://k2")) == "linked k2"
        with pytest.raises(MCPError, match="not found"):
            await mine.read_resource("secret://k2")


async def test_access_rules_apply_to_templated_and_linked_uris(live_server, acme):
    """A deny rule refuses a URI served through a server's template in every spelling, and a
    linked URI, while the rest stays readable; a denied template is not listed."""
    await _with_server(acme, live_server.mcp_url)

    def rules() -> None:
        for pattern in ("files://hidden/*", "secret://hush*", "files://{name}/content"):
            AccessRule.objects.create(
                organization=acme.org,
                role="member",
                kind="resource",
                pattern=pattern,
                effect="deny",
                priority=10,
            )

    async with connect(live_server.mcp_url, acme.key, mode="legacy") as client:
        await client.call_tool("res__make_link", {"name": "hush"})
        assert _text(await client.read_resource("secret://hush")) == "linked hush"
        await sync_to_async(rules)()
        assert _text(await client.read_resource("files://shown/content")) == "content of shown"
        for uri in ("files://hidden/content", "files://%68idden/content", "secret://hush"):
            with pytest.raises(MCPError, match="not found"):
                await client.read_resource(uri)
        names = {t.name for t in (await client.list_resource_templates()).resource_templates}
        assert "res__file" not in names and "topic_summary" in names


# --------------------------------------------------------------------------- subscriptions
def _updates(received: list[str]):
    async def handler(message) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            received.append(str(message.params.uri))
        await anyio.lowlevel.checkpoint()

    return handler


async def _touch_until(client, uri: str, received: list[str], expected: str) -> None:
    """Touch ``uri`` (once a second, at most 30 times) until ``expected`` was received (the
    session's GET stream may open a moment after the subscription)."""
    for _ in range(30):
        await client.call_tool("res__touch", {"uri": uri})
        with anyio.move_on_after(1):
            while expected not in received:
                await anyio.sleep(0.05)
        if expected in received:
            return
    raise AssertionError(f"no update of {expected}; received {received}")


async def test_subscribe_update_unsubscribe(live_server_factory, acme):
    """Two sessions of one organization share the server's watch client: each hears only the URIs
    it subscribed to; after unsubscribing, the server is unsubscribed and nothing more arrives; a
    session's subscriptions are bounded."""
    server = live_server_factory.start(env={"MCP_SUBSCRIPTIONS_PER_SESSION": "3"})
    await _with_server(acme, server.mcp_url)
    a_got: list[str] = []
    b_got: list[str] = []
    a_uri, b_uri, c_uri = "files://a/content", "files://b/content", "files://c/content"
    async with (
        connect(server.mcp_url, acme.key, mode="legacy", message_handler=_updates(a_got)) as a,
        connect(server.mcp_url, acme.key, mode="legacy", message_handler=_updates(b_got)) as b,
    ):
        caps = a.server_capabilities
        assert caps.resources.subscribe and caps.logging is not None and caps.completions is not None
        await _subscribe(a, a_uri)
        await _subscribe(b, b_uri)
        await _touch_until(a, a_uri, a_got, a_uri)
        await _touch_until(b, b_uri, b_got, b_uri)
        assert set(a_got) == {a_uri} and set(b_got) == {b_uri}  # a's updates never reached b

        await _unsubscribe(a, a_uri)
        watchers = await a.call_tool("res__subscribers", {"uri": a_uri})
        assert watchers.content[0].text == "0"  # the gateway unsubscribed the server too
        a_got.clear()
        await _subscribe(a, c_uri)
        await a.call_tool("res__touch", {"uri": a_uri})
        await _touch_until(a, c_uri, a_got, c_uri)
        assert a_uri not in a_got

        # The bound: c, then two more (one a database resource); the fourth is refused.
        await _subscribe(a, "files://d/content")
        await _subscribe(a, "memo://acme/readme")
        with pytest.raises(MCPError, match="MCP_SUBSCRIPTIONS_PER_SESSION"):
            await _subscribe(a, "files://e/content")
        with pytest.raises(MCPError, match="not found"):
            await _subscribe(b, "nowhere://x")


# --------------------------------------------------------------------------- logging
def _logs(received: list[tuple[str, str]]):
    async def callback(params: types.LoggingMessageNotificationParams) -> None:
        received.append((params.level, str(params.data)))

    return callback


async def test_set_level_filters_log_messages_per_session(live_server, acme):
    """A 2025 session hears a tool's log messages once it set a level, at that level and above;
    another session of the same key that set none hears nothing."""
    await _with_server(acme, live_server.mcp_url)
    loud: list[tuple[str, str]] = []
    quiet: list[tuple[str, str]] = []
    async with (
        connect(live_server.mcp_url, acme.key, mode="legacy", logging_callback=_logs(loud)) as a,
        connect(live_server.mcp_url, acme.key, mode="legacy", logging_callback=_logs(quiet)) as b,
    ):
        assert not (await a.call_tool("res__chatty", {})).is_error
        assert loud == []  # no level set yet
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await a.set_logging_level("warning")
        assert not (await a.call_tool("res__chatty", {})).is_error
        assert [level for level, _ in loud] == ["warning", "error"]
        assert not (await b.call_tool("res__chatty", {})).is_error
        assert quiet == []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await a.set_logging_level("debug")
        loud.clear()
        await a.call_tool("res__chatty", {})
        assert [level for level, _ in loud] == ["debug", "info", "warning", "error"]


async def test_per_request_log_level_of_2026(live_server, acme):
    """A 2026-07-28 caller's per-request level reaches a handshake-era server and filters what
    comes back."""
    await _with_server(acme, live_server.mcp_url)
    got: list[tuple[str, str]] = []
    async with connect(
        live_server.mcp_url, acme.key, log_level="error", logging_callback=_logs(got)
    ) as client:
        assert client.protocol_version == "2026-07-28"
        await client.call_tool("res__chatty", {})
    assert got == [("error", "error line")]


# --------------------------------------------------------------------------- completion
def _add_completion_rows(tenant: Tenant) -> None:
    Prompt.objects.create(
        organization=tenant.org,
        name="order",
        arguments=[{"name": "size", "required": True, "values": ["small", "medium", "large", "mega"]}],
        messages=[{"role": "user", "content": "a {size} one"}],
    )
    Resource.objects.create(organization=tenant.org, uri="topics://weather/summary", name="weather", text="w")
    Resource.objects.create(organization=tenant.org, uri="topics://wine/summary", name="wine", text="v")


@pytest.mark.parametrize("mode", MODES)
async def test_completion_from_database_and_servers(live_server, acme, globex, mode):
    await _with_server(acme, live_server.mcp_url)
    await sync_to_async(_add_completion_rows)(acme)
    async with connect(live_server.mcp_url, acme.key, mode=mode) as client:
        assert client.server_capabilities.completions is not None
        db = await client.complete(types.PromptReference(name="order"), {"name": "size", "value": "m"})
        assert db.completion.values == ["medium", "mega"]
        assert (
            await client.complete(types.PromptReference(name="order"), {"name": "size", "value": ""})
        ).completion.total == 4
        down = await client.complete(
            types.PromptReference(name="res__pick"), {"name": "flavor", "value": "ch"}
        )
        assert down.completion.values == ["cherry", "chocolate"]
        template = types.ResourceTemplateReference(uri="files://{name}/content")
        assert (await client.complete(template, {"name": "name", "value": "b"})).completion.values == ["beta"]
        topics = types.ResourceTemplateReference(uri="topics://{topic}/summary")
        assert (await client.complete(topics, {"name": "topic", "value": "w"})).completion.values == [
            "weather",
            "wine",
        ]
        with pytest.raises(MCPError, match="Unknown prompt"):
            await client.complete(types.PromptReference(name="nope"), {"name": "x", "value": ""})
    async with connect(live_server.mcp_url, globex.key, mode=mode) as other:
        with pytest.raises(MCPError, match="Unknown prompt"):  # acme's prompt is not globex's
            await other.complete(types.PromptReference(name="order"), {"name": "size", "value": "m"})
        with pytest.raises(MCPError, match="Unknown resource template"):
            await other.complete(
                types.ResourceTemplateReference(uri="files://{name}/content"), {"name": "name", "value": ""}
            )
        empty = await other.complete(
            types.ResourceTemplateReference(uri="topics://{topic}/summary"), {"name": "topic", "value": "w"}
        )
        assert empty.completion.values == []  # acme's resources are not globex's


async def test_listen_with_resource_subscriptions(live_server, acme):
    """A 2026-07-28 caller's subscriptions/listen honors the URIs it may read and that can be
    watched, and carries their updates; a hidden or unknown URI is left out of the ack."""
    await _with_server(acme, live_server.mcp_url)

    def deny() -> None:
        AccessRule.objects.create(
            organization=acme.org, role="member", kind="resource", pattern="files://hidden/*", effect="deny"
        )

    await sync_to_async(deny)()
    wanted = ["files://l/content", "files://hidden/content", "nowhere://x", "memo://acme/readme"]
    async with connect(live_server.mcp_url, acme.key) as client:
        assert client.protocol_version == "2026-07-28"
        async with client.listen(resource_subscriptions=wanted) as subscription:
            assert sorted(subscription.honored.resource_subscriptions) == [
                "files://l/content",
                "memo://acme/readme",
            ]
            got: list[str] = []

            async def read_events() -> None:
                async for event in subscription:
                    got.append(getattr(event, "uri", ""))

            async with anyio.create_task_group() as tg:
                tg.start_soon(read_events)
                await _touch_until(client, "files://l/content", got, "files://l/content")
                tg.cancel_scope.cancel()
        watchers = await client.call_tool("res__subscribers", {"uri": "files://l/content"})
        for _ in range(50):  # the listen's end unsubscribes the server (bounded wait)
            if watchers.content[0].text == "0":
                break
            await anyio.sleep(0.2)
            watchers = await client.call_tool("res__subscribers", {"uri": "files://l/content"})
        assert watchers.content[0].text == "0"


def _chatty_levels(url: str, key: str, session: str) -> list[str]:
    payload = {
        "jsonrpc": "2.0",
        "id": 9,
        "method": "tools/call",
        "params": {"name": "res__chatty", "arguments": {}},
    }
    response = rawmcp.post(url, payload, key=key, session=session, version=V)
    messages = rawmcp.messages_of(response)
    assert any(m.get("id") == 9 and "result" in m for m in messages), response.text
    return [m["params"]["level"] for m in messages if m.get("method") == "notifications/message"]


async def test_session_settings_and_subscriptions_span_web_processes(live_server_factory, acme):
    """A session's log level and its subscriptions are kept in Redis: set on one web process, they
    hold on another; an update the server sends reaches the session's stream whichever process
    forwarded the subscription."""
    a = live_server_factory.start()
    b = live_server_factory.start()
    await _with_server(acme, a.mcp_url)
    await _listed(acme, b.mcp_url)  # both processes have listed the server

    def scenario() -> None:
        session, _ = rawmcp.initialize(a.mcp_url, acme.key, V)
        assert _chatty_levels(b.mcp_url, acme.key, session) == []
        assert "result" in rawmcp.rpc(
            a.mcp_url, acme.key, session, "logging/setLevel", {"level": "error"}, version=V
        )
        assert _chatty_levels(b.mcp_url, acme.key, session) == ["error"]
        assert _chatty_levels(a.mcp_url, acme.key, session) == ["error"]
        # A second session without a log level (a call with logs gets a downstream client of its
        # own: for a stdio server, a process of its own, which would not see the subscription).
        session, _ = rawmcp.initialize(a.mcp_url, acme.key, V)
        uri = "files://span/content"
        subscribed = rawmcp.rpc(a.mcp_url, acme.key, session, "resources/subscribe", {"uri": uri}, version=V)
        assert "result" in subscribed, subscribed
        # Process a holds the server's subscription; the session's stream is read on process b.
        with httpx2.stream(
            "GET",
            b.mcp_url,
            headers={
                **acme.headers,
                "Accept": "text/event-stream",
                "Mcp-Session-Id": session,
                "MCP-Protocol-Version": V,
            },
            timeout=30,
        ) as stream:
            assert stream.status_code == 200
            chunks = stream.iter_text()
            seen = next(chunks)  # the priming event: the stream's position is fixed from here on
            touched = rawmcp.rpc(
                a.mcp_url,
                acme.key,
                session,
                "tools/call",
                {"name": "res__touch", "arguments": {"uri": uri}},
                version=V,
            )
            assert "touched" in touched["result"]["content"][0]["text"]
            deadline = time.monotonic() + 60  # keep-alives reset the read timeout: bound the loop
            for chunk in chunks:
                seen += chunk
                if "notifications/resources/updated" in seen or time.monotonic() > deadline:
                    break
            assert uri in seen and "notifications/resources/updated" in seen, (touched, seen)

    await sync_to_async(scenario)()
