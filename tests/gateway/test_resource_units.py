"""Units of issue 11's resource work: URI templates matched on RE2 (literal parts stay literal,
linear time on hostile input), the bounded per-organization memory of resource links (with Redis
and without), and the session settings that end with the session."""

from __future__ import annotations

import time

import mcp_types as types
import pytest

from omni.gateway import links
from omni.gateway.sessions import SessionRecord, get_backend, reset_backend
from omni.registry.templating import UriTemplateError, compile_uri_template, match_uri


def test_template_literals_are_not_patterns():
    assert match_uri("files://a.b/{x}", "files://a.b/1") == {"x": "1"}
    assert match_uri("files://a.b/{x}", "files://aXb/1") is None  # "." is a dot, not "any"
    assert match_uri("q://(a|b)*/{x}", "q://(a|b)*/y") == {"x": "y"}
    assert match_uri("q://(a|b)*/{x}", "q://ab/y") is None
    assert match_uri("docs://{+path}", "docs://a/b?c") == {"path": "a/b?c"}
    assert match_uri("files://{name}/content", "files://a%2Fb/content") == {"name": "a/b"}


def test_templates_run_on_re2_and_refuse_what_they_cannot_match():
    assert type(compile_uri_template("t://{a}/{b}")).__module__.startswith("re2")
    with pytest.raises(UriTemplateError):
        compile_uri_template("t://{?q,page}")  # level 3: listed by a server, never matched
    with pytest.raises(UriTemplateError):
        compile_uri_template("t://" + "x" * 2000 + "{a}")
    # A URI built to make a backtracking engine explode is answered at once (no wall-clock
    # assertion: the point is that this returns at all, on RE2's linear-time matcher).
    template = "t://" + "".join(f"{{v{n}}}-" for n in range(20)) + "end"
    assert match_uri(template, "t://" + "-" * 5000 + "x") is None


def test_linked_uris_takes_links_and_embedded_resources_only():
    result = types.CallToolResult(
        content=[
            types.TextContent(type="text", text="see secret://in-text"),
            types.ResourceLink(type="resource_link", uri="secret://one", name="one"),
            types.EmbeddedResource(
                type="resource", resource=types.TextResourceContents(uri="secret://two", text="2")
            ),
            types.ResourceLink(type="resource_link", uri="secret://one", name="again"),
        ]
    )
    assert links.linked_uris(result) == ["secret://one", "secret://two"]


@pytest.mark.parametrize("with_redis", [True, False])
async def test_links_are_bounded_per_organization(settings, with_redis):
    if not with_redis:
        settings.REDIS_URL = ""
    settings.MCP_RESOURCE_LINKS_PER_ORG = 3
    org_a, org_b = int(time.time() * 1000) % 10**9, int(time.time() * 1000) % 10**9 + 1
    links.clear_process_memory()
    await links.remember(org_a, "res", ["s://1", "s://2"])
    await links.remember(org_a, "other", ["s://3", "s://4"])
    assert await links.server_of(org_a, "s://1") is None  # the oldest went first
    assert await links.server_of(org_a, "s://2") == "res"
    assert await links.server_of(org_a, "s://4") == "other"
    assert await links.server_of(org_b, "s://4") is None  # another organization's memory
    await links.remember(org_a, "res", ["s://2"])  # seen again: the newest now
    await links.remember(org_a, "res", ["s://5"])
    assert await links.server_of(org_a, "s://2") == "res"
    assert await links.server_of(org_a, "s://3") is None


@pytest.mark.parametrize("with_redis", [True, False])
async def test_session_settings_end_with_the_session(settings, with_redis):
    if not with_redis:
        settings.REDIS_URL = ""
    reset_backend()
    try:
        backend = get_backend()
        record = SessionRecord(
            "s-" + str(time.time_ns()), 1, "cred", "2025-11-25", "streamable_http", {}, time.time()
        )
        assert not await backend.set_attr(record.session_id, "log_level", "info")  # no session yet
        await backend.create(record)
        assert await backend.alive(record.session_id)
        assert await backend.set_attr(record.session_id, "log_level", "warning")
        assert await backend.get_attr(record.session_id, "log_level") == "warning"
        assert (await backend.get(record.session_id)).protocol_version == "2025-11-25"  # record intact
        await backend.delete(record.session_id)
        assert not await backend.alive(record.session_id)
        assert await backend.get_attr(record.session_id, "log_level") is None
    finally:
        reset_backend()
