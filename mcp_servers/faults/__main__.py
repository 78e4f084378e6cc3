"""`python -m mcp_servers.faults [--port 9104] [--latency normal:50:10] [--error-rate 0.1] …`:
serve the faults server alone over Streamable HTTP. Fault settings come from the flags, then the
``FAULTS_*`` environment variables; a connection's URL query string overrides them per request."""

from __future__ import annotations

import argparse
import os

from mcp.server.mcpserver import MCPServer

from mcp_servers.common import run_standalone
from mcp_servers.faults.config import SETTINGS, FaultConfigError, from_env, parse_values

HELP = {
    "latency": "delay of every call: fixed:MS, uniform:LOW:HIGH, normal:MEAN:STDDEV or exponential:MEAN",
    "error_rate": "probability (0-1) that a call fails",
    "error_kind": "tool (isError result) or protocol (JSON-RPC error)",
    "error_code": "JSON-RPC code of protocol errors (default -32603)",
    "hang_rate": "probability (0-1) that a call hangs until cancelled",
    "seed": "random seed (repeatable draws)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("fault settings (environment: FAULTS_LATENCY, FAULTS_ERROR_RATE, ...)")
    for name, (flag, var) in SETTINGS.items():
        group.add_argument(flag, dest=f"fault_{name}", metavar=name.upper(), help=f"{HELP[name]} (${var})")


def build_server(args: argparse.Namespace) -> MCPServer:
    from mcp_servers.faults.server import build_server as build

    flags = {name: value for name in SETTINGS if (value := getattr(args, f"fault_{name}")) is not None}
    try:
        settings = parse_values(flags, base=from_env(os.environ))
    except FaultConfigError as exc:
        raise SystemExit(f"invalid fault settings: {exc}") from None
    server = build(settings)
    print(f"fault settings: {settings.as_dict()}", flush=True)
    return server


if __name__ == "__main__":
    run_standalone(build_server, "faults", default_port=9104, add_arguments=add_arguments)
