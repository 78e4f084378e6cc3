"""A built-in MCP server (``settings.MCP_INPROCESS_SERVERS``) served on a loopback port of its own,
in a thread of this process (uvicorn), for the duration of one shard: the "direct" target of a
built-in server. Unsigned, like the gateway's in-process transport; bound to 127.0.0.1 only."""

from __future__ import annotations

import importlib
import socket
import threading
import time
from typing import Any

START_TIMEOUT_S = 20.0


class InprocessServerError(RuntimeError):
    pass


def build(name: str) -> Any:
    from django.conf import settings

    target = getattr(settings, "MCP_INPROCESS_SERVERS", {}).get(name)
    if not target:
        raise InprocessServerError(f"unknown built-in server {name!r}")
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LoopbackServer:
    """``with LoopbackServer("utilities", mode) as url:`` — the server's URL while it runs."""

    def __init__(self, name: str, mode: str) -> None:
        self.name, self.mode = name, mode
        self.server: Any = None
        self.thread: threading.Thread | None = None

    def __enter__(self) -> str:
        import uvicorn

        mcp = build(self.name)
        port = _free_port()
        if self.mode == "sse":
            app, path = mcp.sse_app(), "/sse"
        else:
            app, path = mcp.streamable_http_app(streamable_http_path="/mcp", host="127.0.0.1"), "/mcp"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"loadgen-{self.name}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise InprocessServerError(f"the built-in server {self.name!r} did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{port}{path}"

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(10)
