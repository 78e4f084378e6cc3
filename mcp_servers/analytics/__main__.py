"""`python -m mcp_servers.analytics [--host 127.0.0.1] [--port 9103]`: serve it alone over Streamable HTTP."""

from mcp.server.mcpserver import MCPServer

from mcp_servers.common import run_standalone


def build_server() -> MCPServer:
    # Imported only once run_standalone has set Django up: the server module imports models.
    from mcp_servers.analytics.server import build_server as build

    return build()


if __name__ == "__main__":
    run_standalone(build_server, "analytics", default_port=9103)
