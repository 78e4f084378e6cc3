"""The servers run on their own: ``python -m mcp_servers.<name> --port N`` over real Streamable HTTP."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client

from mcp_servers.common import ORG_META_KEY
from mcp_servers.models import Note
from tests.live import database_url, standalone_mcp_server

from .conftest import unique_org

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0

pytestmark = pytest.mark.live


@contextlib.contextmanager
def standalone(name: str, pidfile=None, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start ``python -m mcp_servers.<name>`` on a free port; yield its /mcp URL; stop it."""
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "omni.settings", **(env or {})}
    # These tests call the tools directly; signature checks are tested in tests/signing/.
    with standalone_mcp_server(name, "--no-verify", env=environment, pidfile=pidfile) as base:
        yield f"{base}/mcp"


async def test_utilities_over_streamable_http(_one_session_per_database):
    with standalone("utilities", _one_session_per_database) as url:
        async with Client(url) as client:
            tools = await client.list_tools()
            assert len(tools.tools) == 9
            result = await client.call_tool("calculate", {"expression": "2*(3+4)"})
            assert not result.is_error
            assert result.structured_content == {"expression": "2*(3+4)", "result": 14}
            bad = await client.call_tool("calculate", {"expression": "import os"})
            assert bad.is_error and "invalid expression" in bad.content[0].text
        # The handshake revisions work too.
        async with Client(url, mode="legacy") as client:
            assert client.server_info is not None and client.server_info.name == "utilities"
            converted = await client.call_tool(
                "convert_units", {"value": 1, "from_unit": "km", "to_unit": "m"}
            )
            assert converted.structured_content["result"] == 1000


async def test_knowledge_reads_the_org_from_meta_over_http(committed, _one_session_per_database):
    from django.db import connection

    org = unique_org("acme")
    env = {"DATABASE_URL": database_url(connection.settings_dict)}
    with standalone("knowledge", _one_session_per_database, env) as url:
        async with Client(url) as client:
            missing = await client.call_tool("create_note", {"title": "no org"})
            assert missing.is_error and ORG_META_KEY in missing.content[0].text
            created = await client.call_tool(
                "create_note", {"title": "Over HTTP", "tags": ["net"]}, meta={ORG_META_KEY: org}
            )
            assert not created.is_error, created.content[0].text
        note = await Note.objects.aget(public_id=created.structured_content["id"])
        assert (note.org_slug, note.title, note.tags) == (org, "Over HTTP", ["net"])
        async with Client(url, mode="legacy") as client:
            found = await client.call_tool("search_notes", {"query": "http"}, meta={ORG_META_KEY: org})
            assert [m["title"] for m in found.structured_content["matches"]] == ["Over HTTP"]
