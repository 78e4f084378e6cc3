"""Gateway → MCP server request signing: HMAC-SHA256 over method, path, body, time, nonce and org.

Header (docs/signing.md)::

    X-Omni-Signature: v1 keyId=<id>,ts=<unix seconds>,nonce=<random>,org=<slug>,sig=<base64>

    sig = base64(hmac_sha256(secret, "v1\\n" + METHOD + "\\n" + path?query + "\\n"
                             + sha256hex(body) + "\\n" + ts + "\\n" + nonce + "\\n" + org))

``GatewaySigner`` (an ``httpx2.Auth``) signs every request the gateway's HTTP clients send; the org
is the JSON-RPC body's ``params._meta["io.omni/org"]`` ("" when absent). ``SignatureRequired``
(ASGI middleware, used by ``mcp_servers.common.run_standalone``) answers 401 with a JSON error to
unsigned, malformed, stale (±300 s), unknown- or retired-key, tampered and replayed requests, and
to a signature whose org differs from the body's ``_meta`` org.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, unquote

import httpx2

from omni.gateway.http import BodyTooLarge, read_body
from omni.gateway.nonces import NonceStore, default_nonce_store

logger = logging.getLogger(__name__)

HEADER = "X-Omni-Signature"
VERSION = "v1"
WINDOW_SECONDS = 300
ORG_META_KEY = "io.omni/org"
UNAUTHORIZED = -32001
_KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_TS_RE = re.compile(r"^[0-9]{1,12}$")
_MIXED = "\x00mixed"


class SignatureError(Exception):
    """A request's signature was refused; ``reason`` is a stable code for logs and clients."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Keys(Protocol):
    async def get(self, key_id: str) -> Any: ...  # a KeyMaterial (key_id, secret) or None


@dataclass(frozen=True)
class Signed:
    key_id: str
    ts: int
    nonce: str
    org: str


# --------------------------------------------------------------------------- the scheme
def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def canonical(method: str, path: str, body: bytes, ts: int | str, nonce: str, org: str) -> bytes:
    return "\n".join([VERSION, method.upper(), path, body_digest(body), str(ts), nonce, org]).encode()


def compute_signature(secret: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret, message, hashlib.sha256).digest()).decode()


def sign(
    secret: bytes,
    key_id: str,
    method: str,
    path: str,
    body: bytes,
    org: str,
    *,
    ts: int | None = None,
    nonce: str | None = None,
) -> str:
    """The ``X-Omni-Signature`` header value for one request."""
    ts = int(time.time()) if ts is None else ts
    nonce = nonce or secrets.token_urlsafe(18)
    sig = compute_signature(secret, canonical(method, path, body, ts, nonce, org))
    return f"{VERSION} keyId={key_id},ts={ts},nonce={nonce},org={quote(org, safe='')},sig={sig}"


def parse_header(value: str) -> dict[str, str]:
    version, _, rest = value.strip().partition(" ")
    if version != VERSION:
        raise SignatureError("unsupported_version", f"unsupported signature version {version[:10]!r}")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, field_value = item.strip().partition("=")
        if not sep or name in fields:
            raise SignatureError("malformed_signature", "malformed signature header")
        fields[name] = field_value
    if set(fields) != {"keyId", "ts", "nonce", "org", "sig"}:
        raise SignatureError("malformed_signature", "the signature needs keyId, ts, nonce, org and sig")
    if not (
        _KEY_ID_RE.match(fields["keyId"]) and _TS_RE.match(fields["ts"]) and _NONCE_RE.match(fields["nonce"])
    ):
        raise SignatureError("malformed_signature", "malformed keyId, ts or nonce")
    fields["org"] = unquote(fields["org"])
    return fields


def org_of_body(body: bytes) -> str:
    """The ``params._meta["io.omni/org"]`` of a JSON-RPC message ("" when absent); for a batch
    the one org all its messages share."""
    if not body:
        return ""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ""
    messages = message if isinstance(message, list) else [message]
    orgs = set()
    for item in messages:
        params = item.get("params") if isinstance(item, dict) else None
        meta = params.get("_meta") if isinstance(params, dict) else None
        value = meta.get(ORG_META_KEY) if isinstance(meta, dict) else None
        orgs.add(value if isinstance(value, str) else "")
    if len(orgs) > 1:
        return _MIXED
    return orgs.pop() if orgs else ""


async def verify(
    header: str | None, method: str, path: str, body: bytes, keys: Keys, *, now: float | None = None
) -> Signed:
    """Check one request's signature (not its nonce: see ``SignatureRequired``)."""
    if not header:
        raise SignatureError(
            "missing_signature", f"this server only accepts requests signed by the gateway ({HEADER})"
        )
    fields = parse_header(header)
    ts = int(fields["ts"])
    now = time.time() if now is None else now
    if abs(now - ts) > WINDOW_SECONDS:
        raise SignatureError(
            "stale_timestamp", f"the signature's timestamp is more than {WINDOW_SECONDS}s off"
        )
    key = await keys.get(fields["keyId"])
    if key is None:
        raise SignatureError("unknown_key", f"unknown or retired signing key {fields['keyId']!r}")
    expected = compute_signature(
        key.secret, canonical(method, path, body, ts, fields["nonce"], fields["org"])
    )
    if not hmac.compare_digest(expected.encode(), fields["sig"].encode()):
        raise SignatureError("bad_signature", "the signature does not match the request")
    if fields["org"] != org_of_body(body):
        raise SignatureError("org_mismatch", "the signed organization is not the request's organization")
    return Signed(fields["keyId"], ts, fields["nonce"], fields["org"])


# --------------------------------------------------------------------------- the gateway's side
class GatewaySigner(httpx2.Auth):
    """Signs every request of an ``httpx2`` client with the current signing key."""

    requires_request_body = True

    def __init__(self, keys: Any = None) -> None:
        self._keys = keys

    def _ring(self) -> Any:
        if self._keys is None:
            from omni.gateway.signing_keys import keyring

            self._keys = keyring
        return self._keys

    @staticmethod
    def _apply(request: httpx2.Request, key: Any) -> None:
        body = request.content
        path = request.url.raw_path.decode("latin-1")
        request.headers[HEADER] = sign(key.secret, key.key_id, request.method, path, body, org_of_body(body))

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        self._apply(request, self._ring().current_sync())
        yield request

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        await request.aread()
        self._apply(request, await self._ring().current())
        yield request


# --------------------------------------------------------------------------- the server's side
async def _json_error(
    send: Callable[[dict], Awaitable[None]], status: int, message: str, reason: str
) -> None:
    payload = {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": UNAUTHORIZED, "message": message, "data": {"reason": reason}},
    }
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'OmniSignature realm="omni-mcp-server"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def request_path(scope: dict) -> str:
    raw = scope.get("raw_path") or scope["path"].encode()
    path = raw.decode("latin-1")
    query = scope.get("query_string") or b""
    return f"{path}?{query.decode('latin-1')}" if query else path


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class SignatureRequired:
    """ASGI middleware: only requests signed by the gateway reach ``app`` (401 JSON otherwise)."""

    def __init__(
        self,
        app: Any,
        *,
        keys: Keys | None = None,
        nonces: NonceStore | None = None,
        max_body: int | None = None,
    ) -> None:
        from django.conf import settings

        self.app = app
        self._keys = keys
        self.nonces = nonces or default_nonce_store()
        self.max_body = max_body or getattr(settings, "MCP_MAX_BODY_BYTES", 1024 * 1024)

    @property
    def keys(self) -> Keys:
        if self._keys is None:
            from omni.gateway.signing_keys import keyring

            self._keys = keyring
        return self._keys

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body(receive, self.max_body)
        except BodyTooLarge:
            await _json_error(send, 413, f"the request body exceeds {self.max_body} bytes", "body_too_large")
            return
        except ConnectionAbortedError:
            return
        try:
            signed = await verify(
                _header(scope, b"x-omni-signature"), scope["method"], request_path(scope), body, self.keys
            )
            if not await self.nonces.claim(f"{signed.key_id}:{signed.nonce}", 2 * WINDOW_SECONDS + 5):
                raise SignatureError("replayed_nonce", "this signature was used before (replay)")
        except SignatureError as exc:
            client = (scope.get("client") or ("?", 0))[0]
            logger.warning("refused %s %s from %s: %s", scope["method"], scope["path"], client, exc.reason)
            await _json_error(send, 401, f"Unauthorized: {exc}", exc.reason)
            return
        except Exception:  # the key store is down or a key cannot be decrypted: refuse, loudly
            logger.exception("cannot verify the signature of %s %s", scope["method"], scope["path"])
            await _json_error(
                send, 503, "the server cannot verify signatures right now", "verifier_unavailable"
            )
            return
        scope = {**scope, "omni.signature": signed}
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
