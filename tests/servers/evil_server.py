"""A tiny downstream MCP server whose tools' inputSchemas are hostile (for the isolation tests).

``check`` declares ``{"type": "string", "pattern": "^(a+)+$"}``: on Python's ``re`` the gateway's
argument check would backtrack for seconds on ``"a" * 28 + "!"``. ``lookahead`` declares a pattern
RE2 cannot compile. ``bomb`` declares an inputSchema of nested ``$defs``/``$ref``/``anyOf`` whose
evaluation doubles per level. ``shout`` returns structured content under an ``outputSchema`` with the
catastrophic pattern, which the SDK client in the gateway would check with Python's ``re``.
The server itself checks nothing with these schemas (its own argument
model has no pattern), so everything depends on the gateway.

    python evil_server.py PORT   -> Streamable HTTP at http://127.0.0.1:PORT/mcp
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel

CATASTROPHIC = "^(a+)+$"
server = MCPServer("evil", instructions="hostile schemas for tests")


@server.tool()
def check(word: str) -> str:
    """Answer the word back."""
    return f"checked {word}"


@server.tool()
def lookahead(word: str) -> str:
    """Answer the word back."""
    return f"looked at {word}"


@server.tool()
def bomb(value: int) -> str:
    """Answer the value back."""
    return f"got {value}"


class Shout(BaseModel):
    word: str


@server.tool()
def shout(word: str) -> Shout:
    """Answer the word back as structured content."""
    return Shout(word=word)


def bomb_schema(levels: int) -> dict:
    defs: dict = {"d0": {"type": "integer"}}
    for level in range(1, levels + 1):
        below = {"$ref": f"#/$defs/d{level - 1}"}
        defs[f"d{level}"] = {"anyOf": [below, below]}
    return {
        "type": "object",
        "properties": {"value": {"$ref": f"#/$defs/d{levels}"}},
        "required": ["value"],
        "$defs": defs,
    }


def _hostile(name: str, parameters: dict) -> None:
    tool = server._tool_manager.get_tool(name)  # the advertised inputSchema, not the model's checks
    tool.parameters = parameters


_hostile(
    "check",
    {
        "type": "object",
        "properties": {"word": {"type": "string", "pattern": CATASTROPHIC}},
        "required": ["word"],
    },
)
_hostile(
    "lookahead",
    {"type": "object", "properties": {"word": {"type": "string", "pattern": "(?=a)a"}}, "required": ["word"]},
)
_hostile("bomb", bomb_schema(30))
# The advertised outputSchema (the server's own result model has no pattern).
server._tool_manager.get_tool("shout").fn_metadata.output_schema = {
    "type": "object",
    "properties": {"word": {"type": "string", "pattern": CATASTROPHIC}},
    "required": ["word"],
}

if __name__ == "__main__":
    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))  # type: ignore[call-overload]
