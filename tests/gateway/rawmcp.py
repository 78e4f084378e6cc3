"""Raw Streamable HTTP exchanges (for what the SDK client never sends: bad input, chosen protocol
revisions, session ids presented to another process or by another credential)."""

from __future__ import annotations

import json
from typing import Any

import httpx2

ACCEPT = "application/json, text/event-stream"


def parse_sse(text: str) -> list[dict[str, Any]]:
    """The JSON messages of an SSE body (events with data)."""
    messages = []
    for block in text.replace("\r\n", "\n").split("\n\n"):  # SSE allows CRLF line ends
        data = [line[5:].lstrip() for line in block.splitlines() if line.startswith("data:")]
        if data and "".join(data).strip():
            messages.append(json.loads("\n".join(data)))
    return messages


def messages_of(response: httpx2.Response) -> list[dict[str, Any]]:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        return parse_sse(response.text)
    return [response.json()] if response.content else []


def post(
    url: str,
    payload: Any,
    *,
    key: str | None,
    session: str | None = None,
    version: str | None = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    timeout: float = 20.0,
) -> httpx2.Response:
    h = {"Accept": ACCEPT, "Content-Type": "application/json"}
    if key:
        h["Authorization"] = f"Bearer {key}"
    if session:
        h["Mcp-Session-Id"] = session
    if version:
        h["MCP-Protocol-Version"] = version
    h.update(headers or {})
    body = raw if raw is not None else json.dumps(payload).encode()
    return httpx2.post(url, content=body, headers=h, timeout=timeout)


def initialize(url: str, key: str, version: str = "2025-06-18") -> tuple[str, dict[str, Any]]:
    """Open a session at ``version``; returns (session id, initialize result)."""
    response = post(
        url,
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": {"name": "raw-test", "version": "1"},
            },
        },
        key=key,
    )
    assert response.status_code == 200, response.text
    session = response.headers["mcp-session-id"]
    (message,) = messages_of(response)
    negotiated = message["result"]["protocolVersion"]
    ack = post(
        url,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        key=key,
        session=session,
        version=negotiated,
    )
    assert ack.status_code == 202, ack.text
    return session, message["result"]


def rpc(
    url: str,
    key: str,
    session: str | None,
    method: str,
    params: dict | None = None,
    *,
    version: str,
    request_id: int = 7,
) -> dict[str, Any]:
    """One request in a session; returns its JSON-RPC response message."""
    payload: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        payload["params"] = params
    response = post(url, payload, key=key, session=session, version=version)
    answers = [m for m in messages_of(response) if m.get("id") == request_id]
    assert answers, f"{response.status_code} {response.text}"
    return answers[0]


def wait_for_tool(
    url: str, key: str, session: str | None, name: str, *, version: str, attempts: int = 60
) -> None:
    """Poll ``tools/list`` until ``name`` is listed: a server added a moment ago may still be
    listing (the catalogue leaves it out "for now" after MCP_CATALOGUE_WAIT_SECONDS). Bounded."""
    import time

    names: set[str] = set()
    for _ in range(attempts):
        listed = rpc(url, key, session, "tools/list", version=version)
        names = {t["name"] for t in listed["result"]["tools"]}
        if name in names:
            return
        time.sleep(0.5)
    raise AssertionError(f"{name} never listed; last listing: {sorted(names)}")
