"""The utilities server: nine stateless tools (arithmetic, units, dates, text, regex, JSON, hashes,
UUIDs, base64). They keep no data, so they need no organization and work for any caller.

Every tool that computes over its input runs in the tool worker pool (``mcp_servers.workers``):
with CPU, memory and time limits, off the event loop of the process that serves it."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

from mcp_servers.utilities.calc import calculate
from mcp_servers.utilities.encoding import base64_codec, generate_uuid, hash_text
from mcp_servers.utilities.jsontool import json_tool
from mcp_servers.utilities.text import regex_extract, text_stats
from mcp_servers.utilities.timecalc import datetime_calc
from mcp_servers.utilities.units import convert_units
from mcp_servers.workers import offloaded, warm_up

VERSION = "1.0.0"
INSTRUCTIONS = (
    "Everyday computations, exact and side-effect free: calculate (arithmetic), convert_units, "
    "datetime_calc (time zones, durations, differences), text_stats, regex_extract, json_tool "
    "(validate, JSON Schema, path query), hash_text, generate_uuid, base64_codec. Prefer these tools "
    "over mental arithmetic or guessing."
)

_PURE = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
_RANDOM = ToolAnnotations(read_only_hint=True, idempotent_hint=False, open_world_hint=False)

# (function, hints, runs in the worker pool)
TOOLS = (
    (calculate, _PURE, True),
    (convert_units, _PURE, True),
    (datetime_calc, _PURE, True),
    (text_stats, _PURE, True),
    (regex_extract, _PURE, True),
    (json_tool, _PURE, True),
    (hash_text, _PURE, True),
    (generate_uuid, _RANDOM, False),  # a few UUIDs: less work than sending them to a worker
    (base64_codec, _PURE, True),
)


def build_server() -> MCPServer:
    """A new utilities server instance (cheap: nothing is loaded until a tool runs)."""
    warm_up()  # the tool worker pool starts in the background, before the first call
    server = MCPServer(name="utilities", version=VERSION, instructions=INSTRUCTIONS)
    for fn, hints, in_pool in TOOLS:
        server.add_tool(offloaded(fn) if in_pool else fn, annotations=hints)
    return server
