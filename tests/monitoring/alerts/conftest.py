"""Fixtures of the alerting tests: a webhook receiver on 127.0.0.1 that verifies the HMAC
signature, Celery in eager mode (the delivery tasks run in the test), and a small world."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from omni.monitoring.alerts.transports import SIGNATURE_HEADER, verify
from omni.monitoring.models.alerts import AlertRule, NotificationChannel
from tests.factories import World

SECRET = "s3cret-for-the-receiver"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool | None

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """``responses``: the status codes to answer in turn (the last one repeats)."""

    url: str = ""
    secret: str = SECRET
    responses: list[int] = field(default_factory=lambda: [200])
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            index = min(len(self.received), len(self.responses)) - 1
            return self.responses[max(index, 0)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP server on 127.0.0.1 (a free port) that records every POST and checks its signature."""
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = min(int(self.headers.get("Content-Length") or 0), 1_000_000)
            body = self.rfile.read(length)
            header = self.headers.get(SIGNATURE_HEADER)
            ok = verify(state.secret, header, body) if header is not None else None
            with state.lock:
                state.received.append(Received(self.path, dict(self.headers), body, ok))
            status = state.next_status()
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def eager():
    """Celery tasks run in the calling thread (as in the embedded default, without REDIS_URL)."""
    from omni.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield app
    finally:
        app.conf.task_always_eager = before


@pytest.fixture
def world(db) -> World:
    return World()


@pytest.fixture
def backoff(settings):
    settings.ALERT_RETRY_BACKOFF_SECONDS = 0.0  # eager retries run at once; the delays are checked as numbers
    settings.ALERT_RETRY_MAX_ATTEMPTS = 4
    return settings


def webhook_channel(org, url: str, **extra: Any) -> NotificationChannel:
    return NotificationChannel.objects.create(
        organization=org, name=extra.pop("name", "hook"), kind="webhook", url=url, secret=SECRET, **extra
    )


def email_channel(org, *emails: str) -> NotificationChannel:
    return NotificationChannel.objects.create(
        organization=org, name="mail", kind="email", emails=list(emails)
    )


def rule(org, kind: str, *, channels=(), **fields: Any) -> AlertRule:
    created = AlertRule.objects.create(
        organization=org, name=fields.pop("name", f"{kind} rule"), kind=kind, **fields
    )
    created.channels.set(channels)
    return created
