"""A listener on 127.0.0.1 that counts the connections it accepts and answers every HTTP request
with a page that is not MCP (its body holds fragments an error message must never show)."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = "secret-body-fragment 10.1.2.3"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode
        self.connections = 0
        self.lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, object]:
        request = super().get_request()
        with self.lock:
            self.connections += 1
        return request


class _Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        if self.server.mode == "silent":  # accepts, never answers
            threading.Event().wait(30)
            return
        body = f"<html><body>{SECRET}</body></html>".encode()
        self.send_response(200 if self.server.mode == "html" else 500)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


class Listener:
    """``with Listener() as listener: listener.url("/mcp"); listener.connections``."""

    def __init__(self, mode: str = "html") -> None:
        self._server = _Server(mode)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "/mcp", host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    @property
    def connections(self) -> int:
        with self._server.lock:
            return self._server.connections

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
