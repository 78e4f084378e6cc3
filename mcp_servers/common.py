"""What the built-in MCP servers share: the calling organization and the standalone runner.

The gateway forwards every call with the organization's slug in the request ``_meta`` under
``ORG_META_KEY`` (``"io.omni/org"``); ``current_org(ctx)`` reads it back inside a tool. Each server
package has a ``__main__`` that calls ``run_standalone`` so it can also be served on its own over
Streamable HTTP (``python -m mcp_servers.knowledge --port 9101``), accepting only requests signed by the
gateway (``omni.gateway.signing``).
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

ORG_META_KEY = "io.omni/org"
MISSING_ORG_MESSAGE = f"this server needs an organization: the gateway passes it in _meta {ORG_META_KEY}"
# Django's slug alphabet (what Organization.slug allows), bounded like the models' org_slug column.
_ORG_SLUG_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def request_meta(ctx: Context) -> dict[str, Any]:
    """The ``_meta`` object of the current request (empty when there is none)."""
    try:
        meta = ctx.request_context.meta
    except ValueError:  # the Context is not bound to a request (a direct call_tool without one)
        return {}
    return dict(meta) if meta else {}


def current_org(ctx: Context) -> str:
    """The slug of the organization this call acts for, from ``_meta["io.omni/org"]``.

    Raises a ``ToolError`` (the client gets ``is_error=True`` with the message) when the key is
    missing, empty or not a slug.
    """
    value = request_meta(ctx).get(ORG_META_KEY)
    if value is None or value == "":
        raise ToolError(MISSING_ORG_MESSAGE)
    if not isinstance(value, str) or not _ORG_SLUG_RE.fullmatch(value):
        raise ToolError(
            f"_meta {ORG_META_KEY} must be an organization slug (letters, digits, '-' or '_', "
            "at most 100 characters)"
        )
    return value


def _close_old_db_connections_app(app: Any) -> Any:
    """ASGI wrapper: drop stale or expired Django DB connections before each HTTP request.

    No Django request cycle runs here, so nothing else would close a connection that the database
    dropped; the async ORM's worker thread would keep failing on it.
    """
    from asgiref.sync import sync_to_async
    from django.db import close_old_connections

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await sync_to_async(close_old_connections)()
        await app(scope, receive, send)

    return wrapped


def run_standalone(
    build_server: Callable[..., MCPServer],
    name: str,
    *,
    default_port: int = 9100,
    argv: Sequence[str] | None = None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """Serve one server alone over Streamable HTTP at ``http://HOST:PORT/mcp`` (blocks until stopped).

    ``add_arguments`` adds a server's own options to the command line; ``build_server`` is then
    called with the parsed ``argparse.Namespace`` (otherwise with no argument)."""
    parser = argparse.ArgumentParser(
        prog=f"python -m mcp_servers.{name}",
        description=f"Run the built-in '{name}' MCP server on its own over Streamable HTTP at /mcp.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=default_port, help=f"TCP port (default: {default_port})")
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn log level (default: warning)",
    )
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="accept requests not signed by the gateway (local experiments only; see docs/signing.md)",
    )
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port {args.port} is not a TCP port (1-65535)")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omni.settings")
    import django

    django.setup()

    import uvicorn

    server = build_server(args) if add_arguments is not None else build_server()
    # host= lets the SDK turn on DNS-rebinding protection when listening on a loopback address.
    app = server.streamable_http_app(streamable_http_path="/mcp", host=args.host)
    if args.no_verify:
        print("WARNING: --no-verify: unsigned requests are accepted", flush=True)
    else:
        from omni.gateway.signing import SignatureRequired

        app = SignatureRequired(app)  # only requests signed by the gateway (X-Omni-Signature)
    print(f"{server.name} MCP server on http://{args.host}:{args.port}/mcp", flush=True)
    uvicorn.run(
        _close_old_db_connections_app(app),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        lifespan="on",
    )
