"""A tiny stdio MCP server for tests: one tool answers, one never does."""

import anyio
from mcp.server.mcpserver import MCPServer

server = MCPServer("slow", instructions="test server")


@server.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return text


@server.tool()
async def hang(seconds: float = 3600) -> str:
    """Sleep far longer than any timeout."""
    await anyio.sleep(seconds)
    return "woke up"


if __name__ == "__main__":
    import sys

    # slow_server.py                      -> stdio
    # slow_server.py sse PORT             -> HTTP+SSE at /sse
    # slow_server.py streamable-http PORT -> Streamable HTTP at /mcp
    if len(sys.argv) == 3:
        server.run(sys.argv[1], host="127.0.0.1", port=int(sys.argv[2]))  # type: ignore[call-overload]
    else:
        server.run("stdio")
