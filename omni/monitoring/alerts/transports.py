"""One transport per channel kind (email, signed JSON webhook, Slack-compatible webhook), with one
shape: ``send(channel, message) -> Result``. Nothing here retries; ``services.deliver`` does.

The webhook signature (documented in docs/monitoring.md)::

    X-Omni-Timestamp: 1767312000
    X-Omni-Signature: t=1767312000,v1=<hex HMAC-SHA256(secret, "1767312000." + raw body)>

A receiver recomputes the HMAC over the timestamp, a dot and the raw body with the channel's
secret, compares in constant time and refuses timestamps older than a few minutes (replays).
Webhook URLs of an organization's channels pass the egress policy (``omni/security/egress.py``),
at save time and at connect time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.mail import send_mail

from omni.monitoring.models.alerts import NotificationChannel
from omni.security.egress import EgressDenied, http_client

SIGNATURE_HEADER = "X-Omni-Signature"
TIMESTAMP_HEADER = "X-Omni-Timestamp"
EVENT_HEADER = "X-Omni-Event"


@dataclass(frozen=True)
class Message:
    """What is sent: a subject line, a plain-text body and the JSON payload of webhooks."""

    event: str
    subject: str
    text: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Result:
    ok: bool
    response_code: int | None = None
    error: str = ""
    retryable: bool = True


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Omni-Signature`` value of ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does (used by the tests): check the signature and the timestamp's age."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass(frozen=True)
class _Target:
    """What the egress policy needs: a name for its log, and the organization (None: exempt)."""

    name: str
    org_id: int | None


def _post(channel: NotificationChannel, body: bytes, headers: dict[str, str]) -> Result:
    timeout = float(getattr(settings, "ALERT_WEBHOOK_TIMEOUT", 10.0))

    async def run() -> Result:
        target = _Target(f"alert-channel:{channel.name}", channel.organization_id)
        async with http_client(target, timeout=timeout) as client:
            response = await client.post(channel.url, content=body, headers=headers)
            code = response.status_code
            if 200 <= code < 300:
                return Result(True, code)
            return Result(False, code, f"HTTP {code}", retryable=code >= 500 or code in (408, 429))

    def masked(text: str) -> str:
        # The URL is encrypted at rest (a Slack-style URL is a credential): keep it out of the log.
        return text.replace(channel.url, "<channel URL>") if channel.url else text

    try:
        return async_to_sync(run)()
    except EgressDenied as exc:
        return Result(False, None, masked(f"blocked by the egress policy: {exc}")[:500], retryable=False)
    except Exception as exc:  # noqa: BLE001 - any network failure is a failed attempt
        return Result(False, None, masked(f"{type(exc).__name__}: {exc}")[:500])


def send_webhook(channel: NotificationChannel, message: Message) -> Result:
    body = json.dumps(message.payload, sort_keys=True, separators=(",", ":")).encode()
    timestamp = int(time.time())
    try:
        secret = channel.secret_value()
    except ValueError as exc:
        return Result(False, None, str(exc), retryable=False)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "omni-mcp-alerts/1",
        EVENT_HEADER: message.event,
        TIMESTAMP_HEADER: str(timestamp),
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    return _post(channel, body, headers)


def send_slack(channel: NotificationChannel, message: Message) -> Result:
    """Slack's incoming-webhook shape (``text`` plus blocks); Mattermost and others accept it too."""
    payload = {
        "text": message.subject,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{message.subject}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": message.text[:2900]}},
        ],
    }
    body = json.dumps(payload).encode()
    return _post(channel, body, {"Content-Type": "application/json", "User-Agent": "omni-mcp-alerts/1"})


def send_email(channel: NotificationChannel, message: Message) -> Result:
    recipients = [address for address in channel.emails or [] if address]
    if not recipients:
        return Result(False, None, "no recipients", retryable=False)
    try:
        send_mail(message.subject, message.text, None, recipients, fail_silently=False)
    except Exception as exc:  # noqa: BLE001 - SMTP failures of every kind are a failed attempt
        return Result(False, None, f"{type(exc).__name__}: {exc}"[:500])
    return Result(True)


TRANSPORTS = {
    NotificationChannel.Kind.EMAIL: send_email,
    NotificationChannel.Kind.WEBHOOK: send_webhook,
    NotificationChannel.Kind.SLACK: send_slack,
}


def send(channel: NotificationChannel, message: Message) -> Result:
    transport = TRANSPORTS.get(channel.kind)
    if transport is None:
        return Result(False, None, f"unknown channel kind {channel.kind!r}", retryable=False)
    return transport(channel, message)
