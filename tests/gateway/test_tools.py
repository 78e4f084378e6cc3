"""All 22 tools through the gateway over real HTTP: a valid call with a checked result, and an
invalid one refused by the gateway's inputSchema check before it reaches the server."""

from __future__ import annotations

import json

import pytest

from tests.gateway.conftest import connect

pytestmark = pytest.mark.live

CSV = "city,temp,rain,sunny\nOslo,3,10,false\nRome,18,2,true\nLima,20,0,true\nOslo,5,12,false\n"


def _data(result) -> str:
    assert not result.is_error, result.content
    return (
        json.dumps(result.structured_content)
        if result.structured_content is not None
        else result.content[0].text
    )


async def test_every_tool_valid_call(live_server, acme):
    async with connect(live_server.mcp_url, acme.key) as c:
        note = await c.call_tool(
            "knowledge__create_note", {"title": "Gateway", "body": "routes calls", "tags": ["a"]}
        )
        note_id = note.structured_content["id"]
        assert '"Gateway"' in _data(await c.call_tool("knowledge__get_note", {"id": note_id}))
        updated = await c.call_tool("knowledge__update_note", {"id": note_id, "body": "routes tool calls"})
        assert "routes tool calls" in _data(updated)
        tagged = await c.call_tool("knowledge__tag_note", {"id": note_id, "add": ["b"], "remove": ["a"]})
        assert '"b"' in _data(tagged) and '"a"' not in _data(tagged)
        listed = await c.call_tool("knowledge__list_notes", {"tag": "b"})
        assert note_id in _data(listed)
        found = await c.call_tool("knowledge__search_notes", {"query": "tool calls"})
        assert note_id in _data(found)
        assert not (await c.call_tool("knowledge__delete_note", {"id": note_id})).is_error
        assert (await c.call_tool("knowledge__get_note", {"id": note_id})).is_error

        assert "14" in _data(await c.call_tool("utilities__calculate", {"expression": "2*(3+4)"}))
        km = await c.call_tool("utilities__convert_units", {"value": 5, "from_unit": "km", "to_unit": "m"})
        assert "5000" in _data(km)
        later = await c.call_tool(
            "utilities__datetime_calc", {"operation": "add", "start": "2026-01-30T10:00:00+00:00", "days": 3}
        )
        assert "2026-02-02" in _data(later)
        stats = await c.call_tool("utilities__text_stats", {"text": "One two. Three four five."})
        assert '"words": 5' in _data(stats)
        emails = await c.call_tool(
            "utilities__regex_extract", {"pattern": r"\w+@\w+\.com", "text": "a@b.com c@d.com"}
        )
        assert "a@b.com" in _data(emails) and "c@d.com" in _data(emails)
        queried = await c.call_tool(
            "utilities__json_tool", {"json_text": '{"a": {"b": [1, 42]}}', "path": "a.b[1]"}
        )
        assert "42" in _data(queried)
        digest = await c.call_tool("utilities__hash_text", {"text": "abc", "algorithm": "md5"})
        assert "900150983cd24fb0d6963f7d28e17f72" in _data(digest)
        uuids = await c.call_tool("utilities__generate_uuid", {"version": 4, "count": 3})
        assert _data(uuids).count("-4") >= 3
        encoded = await c.call_tool("utilities__base64_codec", {"operation": "encode", "text": "hello"})
        assert "aGVsbG8=" in _data(encoded)

        assert not (await c.call_tool("analytics__load_csv", {"name": "weather", "csv_text": CSV})).is_error
        described = await c.call_tool("analytics__describe_dataset", {"name": "weather"})
        assert '"temp"' in _data(described) and "11.5" in _data(described)  # mean of 3, 18, 20, 5
        rows = await c.call_tool(
            "analytics__filter_rows",
            {"name": "weather", "conditions": [{"column": "temp", "op": "gt", "value": 10}]},
        )
        assert "Rome" in _data(rows) and "Oslo" not in _data(rows)
        grouped = await c.call_tool(
            "analytics__group_aggregate",
            {"name": "weather", "group_by": ["city"], "aggregations": [{"column": "rain", "func": "sum"}]},
        )
        assert "22" in _data(grouped)  # Oslo: 10 + 12
        top = await c.call_tool("analytics__top_n", {"name": "weather", "column": "temp", "n": 1})
        assert "Lima" in _data(top) and "Rome" not in _data(top)
        corr = await c.call_tool("analytics__correlation", {"name": "weather", "x": "temp", "y": "rain"})
        assert '"r": -0.9' in _data(corr)


INVALID = {
    "knowledge__create_note": {"title": 1},
    "knowledge__get_note": {},
    "knowledge__update_note": {"title": "no id"},
    "knowledge__delete_note": {"id": 5},
    "knowledge__list_notes": {"limit": "ten"},
    "knowledge__search_notes": {"query": ["x"]},
    "knowledge__tag_note": {"id": "x", "add": "not-a-list"},
    "utilities__calculate": {"expr": "1+1"},
    "utilities__convert_units": {"value": 1, "from_unit": "parsec", "to_unit": "m"},
    "utilities__datetime_calc": {"operation": "teleport", "start": "2026-01-01"},
    "utilities__text_stats": {"text": 42},
    "utilities__regex_extract": {"pattern": "a"},
    "utilities__json_tool": {},
    "utilities__hash_text": {"text": "a", "algorithm": "crc32"},
    "utilities__generate_uuid": {"version": 3},
    "utilities__base64_codec": {"operation": "rot13", "text": "a"},
    "analytics__load_csv": {"name": "x"},
    "analytics__describe_dataset": {"name": None},
    "analytics__filter_rows": {"name": "x", "match": "some"},
    "analytics__group_aggregate": {"name": "x"},
    "analytics__top_n": {"name": "x", "column": "y", "order": "sideways"},
    "analytics__correlation": {"name": "x", "x": "a"},
}


async def test_every_tool_invalid_call_is_refused_before_forwarding(live_server, acme):
    async with connect(live_server.mcp_url, acme.key) as c:
        names = set()
        cursor = None
        while True:
            page = await c.list_tools(cursor=cursor)
            names |= {t.name for t in page.tools}
            cursor = page.next_cursor
            if not cursor:
                break
        assert names == set(INVALID), "every tool has an invalid-call case"
        for name, arguments in INVALID.items():
            result = await c.call_tool(name, arguments)
            assert result.is_error, name
            assert result.content[0].text.startswith(f"Invalid arguments for tool {name}"), result.content[
                0
            ].text


async def test_tool_level_errors_come_back_unchanged(live_server, acme):
    """Arguments that fit the schema but fail in the tool: the server's own error text, is_error."""
    async with connect(live_server.mcp_url, acme.key) as c:
        result = await c.call_tool("utilities__calculate", {"expression": "__import__('os')"})
        assert result.is_error and "Invalid arguments" not in result.content[0].text
        missing = await c.call_tool("analytics__describe_dataset", {"name": "no-such-dataset"})
        assert missing.is_error and "no-such-dataset" in missing.content[0].text
