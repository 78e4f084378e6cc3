"""The signature scheme: canonical form, signing and verifying, the org check, and the signer and
the verifying middleware talking to each other in-process (httpx2's ASGI transport)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx2
import pytest

from omni.gateway.nonces import MemoryNonceStore
from omni.gateway.signing import (
    GatewaySigner,
    SignatureError,
    SignatureRequired,
    canonical,
    org_of_body,
    parse_header,
    sign,
    verify,
)
from omni.gateway.signing_keys import KeyMaterial
from tests.signing.conftest import StaticKeys

KEY = KeyMaterial("k-test", b"s3cret-for-tests")
OTHER = KeyMaterial("k-other", b"another-secret")
BODY = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "t", "_meta": {"io.omni/org": "acme"}},
    }
).encode()


def test_canonical_form_and_header_match_the_documented_scheme():
    message = canonical("post", "/mcp?x=1", b"{}", 1700000000, "n" * 22, "acme")
    assert message == (
        b"v1\nPOST\n/mcp?x=1\n"
        + hashlib.sha256(b"{}").hexdigest().encode()
        + b"\n1700000000\n"
        + b"n" * 22
        + b"\nacme"
    )
    header = sign(KEY.secret, KEY.key_id, "POST", "/mcp?x=1", b"{}", "acme", ts=1700000000, nonce="n" * 22)
    expected_sig = base64.b64encode(hmac.new(KEY.secret, message, hashlib.sha256).digest()).decode()
    assert header == f"v1 keyId=k-test,ts=1700000000,nonce={'n' * 22},org=acme,sig={expected_sig}"
    assert parse_header(header)["sig"] == expected_sig
    # GET and DELETE carry no body: the digest of b"".
    assert hashlib.sha256(b"").hexdigest().encode() in canonical("GET", "/mcp", b"", 1, "n" * 16, "")


def test_org_of_body():
    assert org_of_body(BODY) == "acme"
    assert org_of_body(b"") == "" and org_of_body(b"not json") == "" and org_of_body(b"[1, 2]") == ""
    assert (
        org_of_body(b'{"method": "ping"}') == ""
        and org_of_body(b'{"params": {"_meta": {"io.omni/org": 3}}}') == ""
    )
    batch = [json.loads(BODY), json.loads(BODY)]
    assert org_of_body(json.dumps(batch).encode()) == "acme"
    batch[1]["params"]["_meta"]["io.omni/org"] = "globex"
    assert org_of_body(json.dumps(batch).encode()) not in ("acme", "globex", "")


async def _verify(header, method="POST", path="/mcp", body=BODY, now=None):
    return await verify(header, method, path, body, StaticKeys(KEY), now=now)


async def test_a_valid_signature_verifies():
    signed = await _verify(sign(KEY.secret, KEY.key_id, "POST", "/mcp", BODY, "acme"))
    assert (signed.key_id, signed.org) == ("k-test", "acme")


@pytest.mark.parametrize(
    "change",
    [
        {"method": "PUT"},
        {"path": "/mcp/other"},
        {"path": "/mcp?session=1"},
        {"body": BODY.replace(b'"t"', b'"u"')},
        {"body": BODY.replace(b"acme", b"acmf")},
    ],
)
async def test_any_change_to_the_request_breaks_the_signature(change):
    header = sign(KEY.secret, KEY.key_id, "POST", "/mcp", BODY, "acme")
    with pytest.raises(SignatureError) as caught:
        await _verify(header, **change)
    assert caught.value.reason == "bad_signature"


async def test_changed_header_fields_break_it_too():
    header = sign(KEY.secret, KEY.key_id, "POST", "/mcp", BODY, "acme", ts=int(time.time()))
    fields = parse_header(header)
    for name, value in [("org", "globex"), ("ts", str(int(fields["ts"]) + 1)), ("nonce", "x" * 22)]:
        forged = header.replace(f"{name}={fields[name]}", f"{name}={value}")
        with pytest.raises(SignatureError) as caught:
            await _verify(forged)
        assert caught.value.reason == "bad_signature", name
    with pytest.raises(SignatureError) as caught:
        await _verify(header.replace("keyId=k-test", "keyId=k-other"))
    assert caught.value.reason == "unknown_key"


async def test_the_signed_org_must_be_the_bodys_org():
    header = sign(KEY.secret, KEY.key_id, "POST", "/mcp", BODY, "globex")  # validly signed, wrong org
    with pytest.raises(SignatureError) as caught:
        await _verify(header)
    assert caught.value.reason == "org_mismatch"


async def test_stale_and_future_timestamps():
    now = time.time()
    for ts in (int(now) - 301, int(now) + 301):
        with pytest.raises(SignatureError) as caught:
            await _verify(sign(KEY.secret, KEY.key_id, "POST", "/mcp", BODY, "acme", ts=ts), now=now)
        assert caught.value.reason == "stale_timestamp"
    assert await _verify(
        sign(KEY.secret, KEY.key_id, "POST", "/mcp", BODY, "acme", ts=int(now) - 299), now=now
    )


@pytest.mark.parametrize(
    "header, reason",
    [
        (None, "missing_signature"),
        ("", "missing_signature"),
        ("v2 keyId=a,ts=1,nonce=aaaaaaaaaaaaaaaa,org=,sig=x", "unsupported_version"),
        ("v1 keyId=a,ts=1,nonce=aaaaaaaaaaaaaaaa,org=", "malformed_signature"),
        ("v1 keyId=a,ts=1,nonce=aaaaaaaaaaaaaaaa,org=,sig=x,sig=y", "malformed_signature"),
        ("v1 keyId=a,ts=soon,nonce=aaaaaaaaaaaaaaaa,org=,sig=x", "malformed_signature"),
        ("v1 keyId=a,ts=1,nonce=short,org=,sig=x", "malformed_signature"),
        ("v1 keyId=a b,ts=1,nonce=aaaaaaaaaaaaaaaa,org=,sig=x", "malformed_signature"),
        ("v1 garbage", "malformed_signature"),
    ],
)
async def test_malformed_headers(header, reason):
    with pytest.raises(SignatureError) as caught:
        await _verify(header)
    assert caught.value.reason == reason


# --------------------------------------------------------------------------- signer + middleware
async def _echo(scope, receive, send):
    message = await receive()
    payload = {"path": scope["path"], "body": message["body"].decode(), "org": scope["omni.signature"].org}
    body = json.dumps(payload).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


def _client(app, *, auth=None) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://server", auth=auth)


async def test_signer_and_middleware_together():
    keys = StaticKeys(KEY, OTHER)
    app = SignatureRequired(_echo, keys=keys, nonces=MemoryNonceStore(), max_body=4096)
    async with _client(app, auth=GatewaySigner(keys=keys)) as client:
        response = await client.post("/mcp?a=1", content=BODY)
        assert response.status_code == 200
        assert response.json() == {"path": "/mcp", "body": BODY.decode(), "org": "acme"}
        assert (await client.get("/mcp")).json()["org"] == ""
        assert (await client.delete("/mcp")).status_code == 200
        sent = response.request.headers["X-Omni-Signature"]
        assert sent.startswith("v1 keyId=k-test,") and ",org=acme," in sent
    async with _client(app) as client:
        unsigned = await client.post("/mcp", content=BODY)
        assert unsigned.status_code == 401 and unsigned.headers["www-authenticate"].startswith(
            "OmniSignature"
        )
        assert unsigned.json()["error"]["data"] == {"reason": "missing_signature"}
        replayed = await client.post("/mcp?a=1", content=BODY, headers={"X-Omni-Signature": sent})
        assert replayed.status_code == 401 and replayed.json()["error"]["data"]["reason"] == "replayed_nonce"
        too_big = await client.post("/mcp", content=b"x" * 5000)
        assert too_big.status_code == 413
    # Signed with the other (also active) key: accepted; once it is gone, refused.
    async with _client(app, auth=GatewaySigner(keys=StaticKeys(OTHER))) as client:
        assert (await client.post("/mcp", content=BODY)).status_code == 200
        del keys.keys["k-other"]
        refused = await client.post("/mcp", content=BODY)
        assert refused.status_code == 401 and refused.json()["error"]["data"]["reason"] == "unknown_key"


async def test_memory_nonce_store_expires():
    store = MemoryNonceStore()
    assert await store.claim("a", 60) and not await store.claim("a", 60)
    assert await store.claim("b", 0)  # an expired entry may be claimed again
    assert await store.claim("b", 60)


async def test_redis_nonce_store_is_shared(settings):
    from omni.gateway.nonces import RedisNonceStore

    assert settings.REDIS_URL, "the tests run with REDIS_URL (make test sets it)"
    nonce = f"test-{time.time_ns()}"
    first, second = RedisNonceStore(settings.REDIS_URL), RedisNonceStore(settings.REDIS_URL)
    assert await first.claim(nonce, 30) is True
    assert await second.claim(nonce, 30) is False  # another process (client) sees it
