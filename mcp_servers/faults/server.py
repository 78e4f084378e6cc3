"""The faults server: a built-in MCP server that misbehaves on purpose, for testing how clients,
the gateway and load profiles handle slow, failing, hanging, cut and oversized answers.

Tools (``tools.py``): ``echo`` (trivial, fast), ``slow`` (a latency distribution), ``flaky`` (an
error rate), ``fail`` (always, with a chosen code), ``hang`` (until cancelled or a bound),
``disconnect`` (the connection cut mid-answer), ``oversized`` (N bytes) and ``stats`` (counters).
Every tool but ``stats`` first applies the settings of the connection it is called through
(``config.FaultSettings``: latency, error rate and kind, hang rate, seed), which come from the
options of an in-process server connection, the standalone process's flags and environment, or the
query string of an HTTP connection's URL. Everything is bounded: delays (60 s), hangs (600 s),
sizes (32 MiB). It keeps no data and needs no organization.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

from mcp_servers.faults.config import FaultSettings, parse_args, validate_options
from mcp_servers.faults.cut import ConnectionCutter
from mcp_servers.faults.runtime import FaultRuntime
from mcp_servers.faults.tools import make_tools

__all__ = ["FaultsServer", "build_server", "validate_options"]

VERSION = "1.0.0"
INSTRUCTIONS = (
    "A test server that misbehaves on purpose: echo (fast), slow (latency distributions), flaky "
    "(error rate), fail (always), hang (until cancelled), disconnect (connection cut mid-answer), "
    "oversized (huge results) and stats. Use it only to test error handling and load; never for real work."
)
_HINTS = ToolAnnotations(read_only_hint=True, idempotent_hint=False, open_world_hint=False)


class FaultsServer(MCPServer):
    """An MCPServer whose Streamable HTTP app can cut connections (``disconnect``)."""

    def __init__(self, runtime: FaultRuntime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime

    def streamable_http_app(self, *args: Any, **kwargs: Any) -> Any:
        return ConnectionCutter(super().streamable_http_app(*args, **kwargs))


def build_server(options: Sequence[str] | FaultSettings | None = None) -> FaultsServer:
    """A new faults server. ``options``: the connection's settings, as ``FaultSettings`` or as
    command-line style arguments (``["--latency", "fixed:100"]``, a ServerConnection's ``args``);
    raises ``config.FaultConfigError`` for bad ones."""
    if options is None:
        settings = FaultSettings()
    elif isinstance(options, FaultSettings):
        settings = options
    else:
        settings = parse_args(options)
    server = FaultsServer(FaultRuntime(settings), name="faults", version=VERSION, instructions=INSTRUCTIONS)
    for fn in make_tools(server.runtime):
        server.add_tool(fn, annotations=_HINTS)
    return server
