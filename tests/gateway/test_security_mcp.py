"""Security on the MCP path: every tools/call and denied access lands in the audit log, oversized
or too-deep input is refused before anything is forwarded, scopes are enforced."""

from __future__ import annotations

import time

import pytest

from omni.audit import sealing
from omni.audit.models import AuditEvent
from omni.tenants.services import create_api_key
from tests.gateway import rawmcp

pytestmark = pytest.mark.live
V = "2025-06-18"


def _events(org, action: str, count: int, timeout: float = 10) -> list[AuditEvent]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = list(AuditEvent.objects.filter(organization=org, action=action).order_by("seq"))
        if len(events) >= count:
            return events
        time.sleep(0.1)
    raise AssertionError(f"expected {count} {action} events for {org.slug}")


def test_tool_calls_are_audited_with_outcome_and_duration(live_server, acme, committed):
    session, _ = rawmcp.initialize(live_server.mcp_url, acme.key, V)
    ok = rawmcp.rpc(
        live_server.mcp_url,
        acme.key,
        session,
        "tools/call",
        {"name": "utilities__calculate", "arguments": {"expression": "1+1"}},
        version=V,
    )
    assert ok["result"]["isError"] is False
    bad = rawmcp.rpc(
        live_server.mcp_url,
        acme.key,
        session,
        "tools/call",
        {"name": "utilities__calculate", "arguments": {"nope": 1}},
        version=V,
    )
    assert bad["result"]["isError"] is True

    first, second = _events(acme.org, "mcp.tools_call", 2)
    assert first.data["tool"] == "utilities__calculate" and first.data["outcome"] == "ok"
    assert first.data["duration_ms"] >= 0 and first.data["server"] == "utilities"
    assert first.actor_type == "api_key" and first.actor_id == str(acme.api_key.pk)
    assert "arguments" not in first.data  # the organization did not turn argument logging on
    assert first.ip == "127.0.0.1"
    assert second.data["outcome"] == "invalid_arguments"


def test_arguments_are_kept_when_the_organization_asks(live_server, acme, committed):
    acme.org.settings = {**acme.org.settings, "audit_tool_arguments": True}
    acme.org.save()
    session, _ = rawmcp.initialize(live_server.mcp_url, acme.key, V)
    rawmcp.rpc(
        live_server.mcp_url,
        acme.key,
        session,
        "tools/call",
        {"name": "utilities__hash_text", "arguments": {"text": "audit me"}},
        version=V,
    )
    (event,) = _events(acme.org, "mcp.tools_call", 1)
    # Stored encrypted with the organization's data key (omni.privacy), read back decrypted.
    assert event.data["arguments"].startswith("omnienc:1:")
    assert sealing.open_value(event.data["arguments"]) == {"text": "audit me"}


def test_scope_refusal_is_denied_and_audited(live_server, acme, committed):
    _key, raw = create_api_key(acme.org, "read-only", scopes=["prompts:read"])
    session, _ = rawmcp.initialize(live_server.mcp_url, raw, V)
    refused = rawmcp.rpc(
        live_server.mcp_url,
        raw,
        session,
        "tools/call",
        {"name": "utilities__calculate", "arguments": {"expression": "1"}},
        version=V,
    )
    assert refused["error"]["code"] == -32012 and "tools:call" in refused["error"]["message"]
    allowed = rawmcp.rpc(live_server.mcp_url, raw, session, "prompts/list", version=V)
    assert "greet" in {p["name"] for p in allowed["result"]["prompts"]}
    resources = rawmcp.rpc(live_server.mcp_url, raw, session, "resources/list", version=V)
    assert resources["error"]["code"] == -32012
    (denied, *_rest) = _events(acme.org, "access.denied", 2)
    assert denied.data["required_scope"] == "tools:call"


def test_too_deep_too_big_and_bad_uri_are_refused(live_server, acme):
    session, _ = rawmcp.initialize(live_server.mcp_url, acme.key, V)
    deep: dict = {}
    cursor = deep
    for _ in range(60):
        cursor["x"] = {}
        cursor = cursor["x"]
    answer = rawmcp.rpc(
        live_server.mcp_url,
        acme.key,
        session,
        "tools/call",
        {"name": "utilities__calculate", "arguments": deep},
        version=V,
    )
    assert answer["error"]["code"] == -32602 and "nested" in answer["error"]["message"]
    wide = {"items": list(range(20000))}
    answer = rawmcp.rpc(
        live_server.mcp_url,
        acme.key,
        session,
        "tools/call",
        {"name": "utilities__calculate", "arguments": wide},
        version=V,
    )
    assert answer["error"]["code"] == -32602 and "items" in answer["error"]["message"]
    for uri in ["no scheme here", "memo://a b", "x:" + "a" * 3000]:
        answer = rawmcp.rpc(live_server.mcp_url, acme.key, session, "resources/read", {"uri": uri}, version=V)
        assert answer["error"]["code"] == -32602, uri


def test_rate_limit_per_key_counted_across_two_processes(live_server_factory, committed):
    """The per-key limit is shared by the web processes (Redis counters): 429 with Retry-After
    and a JSON-RPC error, an audit event, and another key of the organization is unaffected."""
    from tests.gateway.world import make_tenant

    tenant = make_tenant("limited")
    tenant.org.settings = {"rate_limits": {"mcp_per_key_per_minute": 6}}
    tenant.org.save()
    _other, other_key = create_api_key(tenant.org, "other")
    a = live_server_factory.start(name="rl-a")
    b = live_server_factory.start(name="rl-b")
    try:
        if time.time() % 60 > 45:  # keep the whole exchange inside one fixed window
            time.sleep(61 - time.time() % 60)
        session, _ = rawmcp.initialize(a.mcp_url, tenant.key, V)  # 2 requests (initialize + initialized)
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        statuses = [
            rawmcp.post(server.mcp_url, ping, key=tenant.key, session=session, version=V).status_code
            for server in (b, a, b, a)
        ]
        assert statuses == [200, 200, 200, 200]
        refused = rawmcp.post(b.mcp_url, ping, key=tenant.key, session=session, version=V)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        error = refused.json()["error"]
        assert error["code"] == -32013 and error["data"]["limit"] == "mcp_per_key_per_minute"
        other_session, _ = rawmcp.initialize(a.mcp_url, other_key, V)
        assert (
            rawmcp.post(b.mcp_url, ping, key=other_key, session=other_session, version=V).status_code == 200
        )
        (hit, *_rest) = _events(tenant.org, "ratelimit.hit", 1)
        assert hit.data["limit"] == "mcp_per_key_per_minute"
        assert hit.ip == "127.0.0.1"
    finally:
        a.stop()
        b.stop()


async def test_access_rules_hide_and_refuse(live_server, committed):
    """An organization's rules decide what a role or one API key sees and uses; hidden items are
    refused like missing ones and the refusal is audited."""
    from asgiref.sync import sync_to_async

    from omni.registry.access_models import AccessRule
    from tests.gateway.conftest import connect
    from tests.gateway.world import make_tenant

    tenant = await sync_to_async(make_tenant)("ruled")
    _second, second_key = await sync_to_async(create_api_key)(tenant.org, "second")

    def rules() -> None:
        org = tenant.org
        AccessRule.objects.create(
            organization=org,
            role="member",
            kind="tool",
            pattern="utilities__calculate",
            effect="allow",
            priority=10,
        )
        AccessRule.objects.create(
            organization=org, role="member", kind="tool", pattern="utilities__*", effect="deny", priority=20
        )
        AccessRule.objects.create(
            organization=org,
            subject_type="api_key",
            role="",
            api_key=tenant.api_key,
            kind="prompt",
            pattern="greet",
            effect="deny",
            priority=10,
        )
        AccessRule.objects.create(
            organization=org,
            role="member",
            kind="resource",
            pattern="memo://ruled/*.png",
            effect="deny",
            priority=10,
        )

    await sync_to_async(rules)()
    async with (
        connect(live_server.mcp_url, tenant.key) as first,
        connect(live_server.mcp_url, second_key) as second,
    ):
        tools = {t.name for t in (await first.list_tools()).tools}
        assert "utilities__calculate" in tools and "utilities__hash_text" not in tools
        assert "knowledge__get_note" in tools
        assert not (await first.call_tool("utilities__calculate", {"expression": "2+2"})).is_error
        with pytest.raises(Exception, match="Unknown tool"):
            await first.call_tool("utilities__hash_text", {"text": "x"})

        assert "greet" not in {p.name for p in (await first.list_prompts()).prompts}
        assert "greet" in {p.name for p in (await second.list_prompts()).prompts}  # the rule names one key
        with pytest.raises(Exception, match="Unknown prompt"):
            await first.get_prompt("greet", {"who": "x"})

        uris = {r.uri for r in (await second.list_resources()).resources}
        assert "memo://ruled/readme" in uris and "memo://ruled/logo.png" not in uris
        with pytest.raises(Exception, match="not found"):
            await second.read_resource("memo://ruled/logo.png")

    denied = await sync_to_async(
        lambda: list(AuditEvent.objects.filter(organization=tenant.org, action="access.denied"))
    )()
    deadline = time.monotonic() + 10
    while len(denied) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
        denied = await sync_to_async(
            lambda: list(AuditEvent.objects.filter(organization=tenant.org, action="access.denied"))
        )()
    assert {e.data.get("kind") for e in denied} >= {"tool", "prompt", "resource"}


SCOPE_MATRIX = [
    # (method, params, scope it needs; None: any key of the organization)
    ("ping", None, None),
    ("tools/list", {}, None),
    ("tools/call", {"name": "utilities__calculate", "arguments": {"expression": "1"}}, "tools:call"),
    ("prompts/list", {}, "prompts:read"),
    ("prompts/get", {"name": "greet", "arguments": {"who": "x"}}, "prompts:read"),
    ("resources/list", {}, "resources:read"),
    ("resources/templates/list", {}, "resources:read"),
    ("resources/read", {"uri": "memo://acme/readme"}, "resources:read"),
]


@pytest.mark.parametrize(
    "scopes",
    [["tools:call"], ["prompts:read"], ["resources:read"], ["tools:call", "prompts:read", "resources:read"]],
)
def test_mcp_permission_matrix_by_scope(live_server, acme, globex, committed, scopes):
    """Every MCP operation for keys with each scope, and for an outsider's key: the organization's
    own items need the matching scope; another organization's key never reaches them."""
    _key, raw = create_api_key(acme.org, f"scoped-{'-'.join(scopes)}", scopes=scopes)
    session, _ = rawmcp.initialize(live_server.mcp_url, raw, V)
    outsider, _ = rawmcp.initialize(live_server.mcp_url, globex.key, V)
    for method, params, needed in SCOPE_MATRIX:
        answer = rawmcp.rpc(live_server.mcp_url, raw, session, method, params, version=V)
        if needed is None or needed in scopes:
            assert "result" in answer, (scopes, method, answer)
        else:
            assert answer["error"]["code"] == -32012 and needed in answer["error"]["message"], (
                scopes,
                method,
            )
        # The outsider's key has every scope, in its own organization: acme's items do not exist there.
        other = rawmcp.rpc(live_server.mcp_url, globex.key, outsider, method, params, version=V)
        if method == "prompts/get":
            assert "acme says" not in str(other)
        if method == "resources/read":
            assert other["error"]["code"] == -32602
