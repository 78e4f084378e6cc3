"""A tiny stdio MCP server for tests: one tool answers, one never does."""

import anyio
from mcp.server.mcpserver import Context, MCPServer

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


_released: dict[str, anyio.Event] = {}


def _release_event(name: str) -> anyio.Event:
    return _released.setdefault(name, anyio.Event())


@server.tool()
async def hold(name: str) -> str:
    """Never answer; when the call is cancelled (the gateway's timeout), release ``name``."""
    try:
        await anyio.sleep(3600)
    finally:
        _release_event(name).set()
    return "woke up"


@server.tool()
async def await_release(name: str) -> str:
    """Answer once the ``hold`` call of ``name`` was cancelled (at most 120 s)."""
    with anyio.fail_after(120):
        await _release_event(name).wait()
    return f"released {name}"


@server.tool()
def big(size: int) -> str:
    """A text result of ``size`` bytes."""
    return "x" * size


@server.tool()
async def count(steps: int, ctx: Context) -> str:
    """Report progress for each step, then answer."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step}")
    return f"counted {steps}"


@server.tool()
async def chatty(ctx: Context) -> str:
    """Write two log messages, then answer."""
    await ctx.log("info", "warming up", logger_name="slow")
    await ctx.log("warning", "almost done", logger_name="slow")
    return "said it"


@server.tool()
async def noisy_hang(lines: int, ctx: Context, seconds: float = 3600) -> str:
    """Report ``lines`` progress steps of about 100 bytes each, then sleep long (history in flight)."""
    for line in range(1, lines + 1):
        await ctx.report_progress(line, lines, f"line {line}: " + "x" * 90)
    await anyio.sleep(seconds)
    return "woke up"


@server.tool()
async def grow(name: str, ctx: Context) -> str:
    """Add a tool called ``name`` and tell the client the tool list changed."""

    def extra() -> str:
        return f"{name} works"

    server.add_tool(extra, name=name, description=f"added at run time: {name}")
    await ctx.session.send_tool_list_changed()
    return f"added {name}"


@server.tool()
async def mutate(description: str, ctx: Context) -> str:
    """Change the description of ``echo`` (a server changing a tool after it was approved)."""

    def echo(text: str) -> str:
        return text

    server.remove_tool("echo")
    server.add_tool(echo, name="echo", description=description)
    await ctx.session.send_tool_list_changed()
    return "mutated"


@server.prompt()
def haiku(topic: str) -> str:
    """A downstream prompt."""
    return f"Write a haiku about {topic}."


@server.resource("slow://status", mime_type="text/plain")
def status() -> str:
    """A downstream resource."""
    return "slow server is up"


if __name__ == "__main__":
    import sys

    # slow_server.py                      -> stdio
    # slow_server.py sse PORT             -> HTTP+SSE at /sse
    # slow_server.py streamable-http PORT -> Streamable HTTP at /mcp
    # slow_server.py streamable-http PORT json -> the same, answering with JSON bodies (no SSE)
    # slow_server.py streamable-http PORT many N -> the same, with N more tools (a long listing)
    if len(sys.argv) >= 5 and sys.argv[3] == "many":
        for number in range(int(sys.argv[4])):
            server.add_tool(lambda: "ok", name=f"extra_{number}", description="one of many")
    if len(sys.argv) == 4 and sys.argv[3] == "json":
        server.run(sys.argv[1], host="127.0.0.1", port=int(sys.argv[2]), json_response=True)  # type: ignore[call-overload]
    elif len(sys.argv) >= 3:
        server.run(sys.argv[1], host="127.0.0.1", port=int(sys.argv[2]))  # type: ignore[call-overload]
    else:
        server.run("stdio")
