"""JSON-RPC on the wire: the bodies and headers a load request carries in each mode, and the
classification of an answer into ok or an error kind.

Error kinds (``ShardResult`` counts): ``http_<status>``, ``timeout``, ``connect``, ``disconnect``
(the connection broke after it was made: mid-response, or the server closed it),
``jsonrpc_<code>``, ``tool_error`` (a result with ``isError: true``), ``protocol`` (an answer that
does not parse, or carries no response to the request).
"""

from __future__ import annotations

import json
from typing import Any

from mcp.shared.inbound import NAME_BEARING_METHODS, encode_header_value

ACCEPT = "application/json, text/event-stream"
MODERN = "2026-07-28"
DEFAULT_REVISION = "2025-11-25"
SSE_REVISION = "2024-11-05"
ORG_META_KEY = "io.omni/org"
CLIENT_INFO = {"name": "omni-loadgen", "version": "1"}
ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
}

dumps = json.dumps
loads = json.loads


class Failure(Exception):
    """A request that failed; ``kind`` is its error kind."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


def params_for(kind: str, op: dict[str, Any], rendered: dict[str, Any]) -> dict[str, Any]:
    """The JSON-RPC params of one operation (``rendered`` holds its rendered templates)."""
    if kind == "tools/call":
        return {"name": op["name"], "arguments": rendered.get("arguments") or {}}
    if kind == "prompts/get":
        params: dict[str, Any] = {"name": op["name"]}
        if rendered.get("arguments"):
            params["arguments"] = {k: str(v) for k, v in rendered["arguments"].items()}
        return params
    if kind == "resources/read":
        return {"uri": rendered["uri"]}
    return {}


def with_meta(params: dict[str, Any], meta: dict[str, Any] | None, modern: bool) -> dict[str, Any]:
    """``params`` with ``_meta``: the endpoint's keys, and the 2026-07-28 envelope."""
    if not meta and not modern:
        return params
    merged: dict[str, Any] = {}
    if modern:
        merged.update(ENVELOPE)
    if meta:
        merged.update(meta)
    existing = params.get("_meta")
    if isinstance(existing, dict):
        merged.update(existing)
    return {**params, "_meta": merged}


def request_body(request_id: int, method: str, params: dict[str, Any] | None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return dumps(message, separators=(",", ":")).encode()


def notification_body(method: str, params: dict[str, Any] | None = None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    return dumps(message, separators=(",", ":")).encode()


def modern_headers(method: str, params: dict[str, Any]) -> dict[str, str]:
    """The routing headers a 2026-07-28 POST must repeat from its body."""
    headers = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    name_key = NAME_BEARING_METHODS.get(method)
    if name_key is not None and isinstance(params.get(name_key), str):
        headers["Mcp-Name"] = encode_header_value(params[name_key])
    return headers


def initialize_params(revision: str) -> dict[str, Any]:
    return {"protocolVersion": revision, "capabilities": {}, "clientInfo": CLIENT_INFO}


# ----------------------------------------------------------------------------- answers
def parse_sse_messages(text: str) -> list[Any]:
    """The JSON messages of an SSE body (events with data); raises Failure("protocol")."""
    messages = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip() for line in block.split("\n") if line.startswith("data:")]
        if data and "".join(data).strip():
            try:
                messages.append(loads("\n".join(data)))
            except ValueError as exc:
                raise Failure("protocol", "an SSE event that is not JSON") from exc
    return messages


def decode_answer(content_type: str, body: bytes, request_id: int) -> dict[str, Any]:
    """The JSON-RPC response to ``request_id`` in a POST's answer (JSON or SSE-framed)."""
    try:
        if content_type.startswith("text/event-stream"):
            messages = parse_sse_messages(body.decode("utf-8"))
        else:
            decoded = loads(body)
            messages = decoded if isinstance(decoded, list) else [decoded]
    except (ValueError, UnicodeDecodeError) as exc:
        raise Failure("protocol", "the answer is not JSON") from exc
    for message in messages:
        if isinstance(message, dict) and message.get("id") == request_id:
            return message
    raise Failure("protocol", "no response to the request in the answer")


def check_message(message: Any) -> dict[str, Any]:
    """The result of a JSON-RPC response, or Failure with its kind."""
    if not isinstance(message, dict):
        raise Failure("protocol", "a response that is not an object")
    if "error" in message:
        error = message["error"]
        code = error.get("code") if isinstance(error, dict) else None
        raise Failure(f"jsonrpc_{code}" if isinstance(code, int) else "protocol", str(error)[:200])
    result = message.get("result")
    if not isinstance(result, dict):
        raise Failure("protocol", "a response without a result object")
    if result.get("isError") is True:
        raise Failure("tool_error")
    return result
