"""What a Streamable HTTP POST body is, and the refusals that do not need the SDK.

The SDK answers a batch or an invalid envelope on a handshake session with ``-32602`` and the
whole pydantic validation report (over a kilobyte); the gateway looks at the body first and
answers such bodies itself, shortly (docs/gateway.md, "Error shapes"). JSON-RPC batches are
served where the negotiated revision allows them (2025-03-26, ``batches.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mcp_types import jsonrpc_message_adapter
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from omni.gateway.http import Send, header, json_error

INVALID_REQUEST = -32600
UNSUPPORTED_PROTOCOL_VERSION = -32022
# Revisions whose Streamable HTTP transport accepts JSON-RPC batches (2025-06-18 removed them).
BATCH_REVISIONS = frozenset({"2025-03-26"})
SUPPORTED_VERSIONS: tuple[str, ...] = (*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS)


@dataclass
class Body:
    kind: str  # "message", "batch", "invalid" (JSON but not JSON-RPC), "unparsed" (not JSON)
    value: Any = None

    @property
    def request_id(self) -> Any:
        if self.kind != "message" or not isinstance(self.value, dict):
            return None
        rid = self.value.get("id")
        return rid if isinstance(rid, int | str) and not isinstance(rid, bool) else None


def classify(body: bytes) -> Body:
    """What ``body`` is: parsed once, its envelope checked only by ``checked``."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return Body("unparsed")
    if isinstance(value, list):
        return Body("batch", value)
    return Body("message", value)


def checked(body: Body) -> Body:
    """``body`` with a single message's JSON-RPC envelope validated ("invalid" when it is not)."""
    if body.kind != "message":
        return body
    value = body.value
    try:
        jsonrpc_message_adapter.validate_python(value, by_name=False)
    except (ValidationError, RecursionError):
        return Body("invalid", value)
    return Body("message", value)


async def refuse_version(send: Send, requested: str, request_id: Any = None) -> None:
    """400 for an ``MCP-Protocol-Version`` the gateway does not speak, naming the ones it does."""
    await json_error(
        send,
        400,
        f"Bad Request: unsupported MCP-Protocol-Version {requested[:40]!r}; "
        f"supported: {', '.join(SUPPORTED_VERSIONS)}",
        code=UNSUPPORTED_PROTOCOL_VERSION,
        data={"supported": list(SUPPORTED_VERSIONS), "requested": requested[:100]},
        request_id=request_id,
    )


def wrong_content_type(scope: dict) -> bool:
    value = (header(scope, "content-type") or "").split(";")[0].strip().lower()
    return value != "application/json"


async def refuse_content_type(send: Send) -> None:
    await json_error(send, 415, "Unsupported Media Type: Content-Type must be application/json")


async def refuse_batch(send: Send, version: str) -> None:
    await json_error(
        send,
        400,
        f"Invalid Request: JSON-RPC batches are not allowed in protocol revision {version} "
        f"(only {', '.join(sorted(BATCH_REVISIONS))} accepts them); send one message per POST",
    )


async def refuse_invalid(send: Send) -> None:
    await json_error(
        send, 400, "Invalid Request: the body is not a JSON-RPC 2.0 request, notification or response"
    )
