"""The runner: every operation through the real gateway server in-process, under a context from
the one resolver; events, timing, and validation (MCP schema, outputSchema)."""

from __future__ import annotations

import base64

import pytest
from asgiref.sync import sync_to_async
from django.http import Http404

from omni.playground.runner import PLAYGROUND_TIMEOUT_CODE, run_operation
from omni.tenants.services import aresolve_user_context
from tests.gateway.world import PNG_1X1
from tests.playground.servers import broken, steps

pytestmark = pytest.mark.usefixtures("_close_orm_thread_connections")


@pytest.fixture
async def owner_ctx(committed_lab):
    return await aresolve_user_context(committed_lab.owner, committed_lab.slug)


async def test_tools_list_is_what_the_organizations_clients_see(owner_ctx):
    result = await run_operation(owner_ctx, "tools/list", {})
    assert result.outcome == "ok" and result.error is None
    names = [tool["name"] for tool in result.response["tools"]]
    assert len(names) == 22 and {n.split("__")[0] for n in names} == {"knowledge", "utilities", "analytics"}
    assert result.validation["schema"] == {
        "checked": True,
        "valid": True,
        "type": "ListToolsResult",
        "errors": [],
    }
    assert result.request == {"jsonrpc": "2.0", "method": "tools/list"}
    assert result.protocol == "2026-07-28" and result.duration_ms > 0


async def test_tools_call_with_output_schema_check(owner_ctx):
    result = await run_operation(
        owner_ctx, "tools/call", {"name": "utilities__calculate", "arguments": {"expression": "2*(3+4)"}}
    )
    assert result.outcome == "ok", result.error
    assert result.response["structuredContent"]["result"] == 14
    assert result.target == "utilities__calculate"
    assert result.validation["output_schema"] == {"checked": True, "valid": True, "errors": []}
    assert result.validation["schema"]["valid"] is True


async def test_invalid_arguments_are_a_tool_error(owner_ctx):
    result = await run_operation(owner_ctx, "tools/call", {"name": "utilities__calculate", "arguments": {}})
    assert result.outcome == "error"
    assert result.response["isError"] is True
    assert "Invalid arguments" in result.error_text
    assert result.validation["output_schema"]["checked"] is False  # a tool error is not checked


async def test_unknown_tool_is_an_mcp_error(owner_ctx):
    result = await run_operation(owner_ctx, "tools/call", {"name": "nope__nothing", "arguments": {}})
    assert result.outcome == "error" and result.response is None
    assert result.error["code"] == -32602 and "Unknown tool" in result.error["message"]


async def test_prompts(owner_ctx, committed_lab):
    listed = await run_operation(owner_ctx, "prompts/list", {})
    assert {p["name"] for p in listed.response["prompts"]} == {"greet", "acme_only"}
    got = await run_operation(owner_ctx, "prompts/get", {"name": "greet", "arguments": {"who": "Ada"}})
    assert got.outcome == "ok" and got.target == "greet"
    assert got.response["messages"][1]["content"]["text"] == "Hello Ada!"
    missing = await run_operation(owner_ctx, "prompts/get", {"name": "greet", "arguments": {}})
    assert missing.outcome == "error" and missing.error["code"] == -32602


async def test_resources_and_templates(owner_ctx):
    listed = await run_operation(owner_ctx, "resources/list", {})
    assert {r["uri"] for r in listed.response["resources"]} == {"memo://acme/readme", "memo://acme/logo.png"}
    text = await run_operation(owner_ctx, "resources/read", {"uri": "memo://acme/readme"})
    assert text.response["contents"][0]["text"] == "# acme readme" and text.target == "memo://acme/readme"
    blob = await run_operation(owner_ctx, "resources/read", {"uri": "memo://acme/logo.png"})
    assert base64.b64decode(blob.response["contents"][0]["blob"]) == PNG_1X1
    templates = await run_operation(owner_ctx, "resources/templates/list", {})
    assert [t["uriTemplate"] for t in templates.response["resourceTemplates"]] == ["topics://{topic}/summary"]
    assert templates.validation["schema"]["type"] == "ListResourceTemplatesResult"


async def test_ping_uses_the_handshake_revision(owner_ctx):
    result = await run_operation(owner_ctx, "ping", {})
    assert result.outcome == "ok" and result.response == {}
    assert result.protocol == "2025-11-25"
    modern = await run_operation(owner_ctx, "ping", {}, protocol="2026-07-28")
    assert modern.outcome == "error" and modern.error["code"] == -32601  # removed in 2026-07-28


async def test_raw_json_rpc(owner_ctx):
    listed = await run_operation(owner_ctx, "jsonrpc", {"method": "prompts/list", "params": None})
    assert listed.outcome == "ok" and listed.validation["schema"]["type"] == "ListPromptsResult"
    assert listed.target == "prompts/list" and listed.request == {"jsonrpc": "2.0", "method": "prompts/list"}
    unknown = await run_operation(owner_ctx, "jsonrpc", {"method": "nothing/here", "params": {"x": 1}})
    assert unknown.outcome == "error" and unknown.error["code"] == -32601
    assert unknown.request["params"] == {"x": 1}


async def test_organizations_are_isolated(committed_lab):
    globex_owner = committed_lab.outsider  # owner of globex, outsider to acme
    ctx = await aresolve_user_context(globex_owner, committed_lab.globex.org.slug)
    read = await run_operation(ctx, "resources/read", {"uri": "memo://acme/readme"})
    assert read.outcome == "error" and "not found" in read.error["message"]
    tools = await run_operation(ctx, "tools/list", {})
    assert {t["name"].split("__")[0] for t in tools.response["tools"]} == {"utilities"}
    with pytest.raises(Http404):
        await aresolve_user_context(globex_owner, committed_lab.slug)
    with pytest.raises(Http404):  # a superuser is not special: only members act for an organization
        await aresolve_user_context(committed_lab.superuser, committed_lab.slug)


async def test_viewer_context_cannot_call_tools_even_if_asked(committed_lab):
    ctx = await aresolve_user_context(committed_lab.viewer, committed_lab.slug)
    result = await run_operation(
        ctx, "tools/call", {"name": "utilities__calculate", "arguments": {"expression": "1"}}
    )
    assert result.outcome == "error" and "tools:call" in result.error["message"]


async def test_events_arrive_in_order_with_timings(owner_ctx):
    events = []

    async def collect(event):
        events.append(event)

    result = await run_operation(
        owner_ctx, "tools/call", {"name": "count", "arguments": {"steps": 3}}, server=steps, on_event=collect
    )
    assert result.outcome == "ok"
    kinds = [e["type"] for e in events]
    assert kinds == ["request", "log", "progress", "log", "progress", "log", "progress", "response"]
    assert [e["progress"] for e in events if e["type"] == "progress"] == [1, 2, 3]
    assert [e["data"] for e in events if e["type"] == "log"] == ["step 1 of 3", "step 2 of 3", "step 3 of 3"]
    times = [e["at_ms"] for e in events]
    assert times == sorted(times) and events[-1]["duration_ms"] == result.duration_ms
    assert [e["type"] for e in result.events] == ["log", "progress"] * 3  # kept with the run


async def test_legacy_protocol_streams_progress_too(owner_ctx):
    events = []

    async def collect(event):
        events.append(event["type"])

    result = await run_operation(
        owner_ctx,
        "tools/call",
        {"name": "count", "arguments": {"steps": 2}},
        server=steps,
        on_event=collect,
        protocol="legacy",
    )
    assert result.outcome == "ok" and result.protocol == "2025-11-25"
    assert events == ["request", "log", "progress", "log", "progress", "response"]


async def test_output_schema_validation_catches_wrong_structured_content(owner_ctx):
    wrong = await run_operation(owner_ctx, "tools/call", {"name": "sum", "arguments": {}}, server=broken)
    assert wrong.outcome == "invalid"
    assert wrong.validation["output_schema"]["valid"] is False
    assert wrong.validation["output_schema"]["errors"] == ["total: 'many' is not of type 'integer'"]
    assert wrong.response["structuredContent"] == {"total": "many"}  # still shown
    assert "is not of type 'integer'" in wrong.error_text
    right = await run_operation(
        owner_ctx, "tools/call", {"name": "honest_sum", "arguments": {}}, server=broken
    )
    assert right.outcome == "ok" and right.validation["output_schema"]["valid"] is True


async def test_a_server_breaking_the_protocol_is_reported_not_raised(owner_ctx):
    result = await run_operation(owner_ctx, "prompts/list", {}, server=broken)
    assert result.outcome == "error" and result.response is None
    assert result.error["message"] == "Handler returned an invalid result"


async def test_timeout(owner_ctx):
    events = []

    async def collect(event):
        events.append(event["type"])

    result = await run_operation(
        owner_ctx,
        "tools/call",
        {"name": "sleep", "arguments": {"seconds": 30}},
        server=steps,
        timeout=0.5,
        on_event=collect,
    )
    assert result.outcome == "error" and result.error["code"] == PLAYGROUND_TIMEOUT_CODE
    assert 400 < result.duration_ms < 5000
    assert events == ["request", "error"]


async def test_a_failing_listener_does_not_break_the_run(owner_ctx):
    async def explode(event):
        raise RuntimeError("listener gone")

    result = await run_operation(owner_ctx, "prompts/list", {}, on_event=explode)
    assert result.outcome == "ok"


async def test_stored_rows_are_not_needed_for_a_run(owner_ctx):
    # the runner itself stores nothing: services do (see test_services)
    from omni.playground.models import TestRun

    before = await sync_to_async(TestRun.objects.for_org(owner_ctx).count)()
    await run_operation(owner_ctx, "tools/list", {})
    assert await sync_to_async(TestRun.objects.for_org(owner_ctx).count)() == before
