"""Every door to MCP operations draws from the same rate-limit buckets as ``/mcp``, over a real
daphne process: the playground websocket, ``POST /api/test/mcp`` (each operation of a batch),
``POST /api/test/scenarios`` (each step) and ``/sse``. Each test spends part of a bucket through
``/mcp`` with the organization's API key, then sees the door run exactly what is left, refuse the
next operation in its own shape (websocket frame, 429 + JSON, failed step), and audit it."""

from __future__ import annotations

import json
import time
import uuid

import httpx2
import pytest
from django.conf import settings
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken
from websockets.sync.client import connect

from omni.audit.models import AuditEvent
from omni.playground.models import ScenarioRun, TestRun
from omni.tenants.models import Role
from omni.tenants.services import add_member
from tests.factories import UserFactory
from tests.gateway import rawmcp
from tests.gateway.world import make_tenant

pytestmark = pytest.mark.live

WAIT = 30
V = "2025-06-18"
CALC = {"name": "utilities__calculate", "arguments": {"expression": "6*7"}}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


def _world(**limits: int):
    tenant = make_tenant("doors", servers=("utilities",))
    tenant.org.settings = {"rate_limits": {"mcp_per_org_per_minute": 1000, **limits}}
    tenant.org.save()
    user = UserFactory(username=f"doors-{uuid.uuid4().hex[:8]}")
    add_member(tenant.org, user, Role.MEMBER)
    return tenant, user


def _same_window() -> None:
    """Keep the exchange inside one fixed 60 s window (the counters reset at its end)."""
    if time.time() % 60 > 45:
        time.sleep(61 - time.time() % 60)


def _spend_mcp(server, tenant, n: int) -> str:
    """``n`` (at least 2) requests to ``/mcp`` with the organization's key: the handshake's two,
    then pings. Returns the session id."""
    assert n >= 2
    session, _ = rawmcp.initialize(server.mcp_url, tenant.key, V)
    for _ in range(n - 2):
        response = rawmcp.post(server.mcp_url, PING, key=tenant.key, session=session, version=V)
        assert response.status_code == 200, response.text
    return session


def _mcp_status(server, tenant, session: str | None = None) -> int:
    if session is None:
        session = _spend_mcp(server, tenant, 2)
    return rawmcp.post(server.mcp_url, PING, key=tenant.key, session=session, version=V).status_code


def _hits(org, door: str | None, timeout: float = 10) -> list[AuditEvent]:
    """The ``ratelimit.hit`` events of ``org`` from ``door`` (None: the gateway's, which name the
    path instead), waiting for them to be written."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = [
            event
            for event in AuditEvent.objects.filter(organization=org, action="ratelimit.hit").order_by("seq")
            if event.data.get("door") == door
        ]
        if events:
            return events
        time.sleep(0.1)
    raise AssertionError(f"no ratelimit.hit event for door {door!r} in {org.slug}")


# --------------------------------------------------------------------------- websocket
def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _ws(server, slug: str, user, *, origin: str | None = None):
    return connect(
        f"ws://127.0.0.1:{server.port}/ws/playground/{slug}/",
        origin=origin or server.url,
        additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={_session_cookie(user)}"},
        open_timeout=WAIT,
    )


def _final(ws) -> dict:
    for _ in range(100):
        event = json.loads(ws.recv(timeout=WAIT))
        if event["type"] in ("response", "error", "invalid", "denied", "catalogue"):
            return event
    raise AssertionError("no final event")


def _ready(ws, slug: str) -> None:
    assert json.loads(ws.recv(timeout=WAIT)) == {"type": "ready", "organization": slug}


def _assert_refused_frame(frame: dict, message_id, limit: str) -> None:
    assert frame["type"] == "error" and frame["id"] == message_id and frame["status"] == 429
    assert 1 <= frame["retry_after"] <= 60
    assert frame["error"]["code"] == -32013
    assert frame["error"]["data"] == {"limit": limit, "retry_after": frame["retry_after"]}
    assert (
        "Too Many Requests" in frame["error"]["message"]
        and limit.replace("_", " ") in frame["error"]["message"]
    )
    assert "run_id" not in frame  # nothing ran, nothing stored


def test_websocket_shares_the_organization_bucket_with_mcp(live_server, committed):
    tenant, user = _world(mcp_per_org_per_minute=5)
    slug = tenant.org.slug
    _same_window()
    session = _spend_mcp(live_server, tenant, 2)
    with _ws(live_server, slug, user) as ws:
        _ready(ws, slug)
        for number in range(3):  # 2 + 3 = the limit of 5
            ws.send(json.dumps({"id": number, "operation": "tools/call", "params": CALC}))
            assert _final(ws)["type"] == "response"
        ws.send(json.dumps({"id": "over", "operation": "tools/call", "params": CALC}))
        _assert_refused_frame(_final(ws), "over", "mcp_per_org_per_minute")
        ws.send(json.dumps({"id": "cat", "type": "catalogue"}))  # a catalogue's lists count too
        _assert_refused_frame(_final(ws), "cat", "mcp_per_org_per_minute")
    assert _mcp_status(live_server, tenant, session) == 429  # and /mcp is refused as well: one bucket
    assert TestRun.objects.for_org(tenant.org).count() == 3
    (hit, *_) = _hits(tenant.org, "websocket")
    assert hit.data["limit"] == "mcp_per_org_per_minute" and hit.actor_id == str(user.pk)


def test_websocket_per_user_bucket(live_server, committed):
    tenant, user = _world(mcp_per_key_per_minute=2)
    other = UserFactory(username=f"doors-other-{uuid.uuid4().hex[:8]}")
    add_member(tenant.org, other, Role.MEMBER)
    slug = tenant.org.slug
    _same_window()
    with _ws(live_server, slug, user) as ws:
        _ready(ws, slug)
        for number in range(2):
            ws.send(json.dumps({"id": number, "operation": "tools/call", "params": CALC}))
            assert _final(ws)["type"] == "response"
        ws.send(json.dumps({"id": 2, "operation": "tools/call", "params": CALC}))
        _assert_refused_frame(_final(ws), 2, "mcp_per_key_per_minute")
    with _ws(live_server, slug, other) as ws:  # another member has a bucket of their own
        _ready(ws, slug)
        ws.send(json.dumps({"id": "x", "operation": "tools/call", "params": CALC}))
        assert _final(ws)["type"] == "response"
    _spend_mcp(live_server, tenant, 2)  # the API key's own bucket (2) is untouched by the users' calls
    _hits(tenant.org, "websocket")


def test_websocket_origin_must_match_scheme_host_and_port(live_server, committed):
    from websockets.exceptions import InvalidStatus

    tenant, user = _world()
    slug = tenant.org.slug
    port = live_server.port
    for origin in (f"http://127.0.0.1:{port + 1}", f"https://127.0.0.1:{port}", "http://127.0.0.1"):
        with pytest.raises(InvalidStatus) as refused:
            _ws(live_server, slug, user, origin=origin)
        assert refused.value.response.status_code == 403, origin
    with _ws(live_server, slug, user, origin=f"http://127.0.0.1:{port}") as ws:
        _ready(ws, slug)


# --------------------------------------------------------------------------- POST /api/test/mcp
def _api(server, path: str, user, body: dict) -> httpx2.Response:
    token = str(AccessToken.for_user(user))
    return httpx2.post(
        f"{server.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=WAIT
    )


def _batch(slug: str, n: int) -> dict:
    return {"organization": slug, "operations": [{"operation": "tools/call", "params": CALC}] * n}


def test_api_test_mcp_counts_each_operation_of_a_batch(live_server, committed):
    tenant, user = _world(mcp_per_org_per_minute=6)
    slug = tenant.org.slug
    _same_window()
    _spend_mcp(live_server, tenant, 2)
    ok = _api(live_server, "/api/test/mcp", user, _batch(slug, 4))  # 2 + 4 = the limit of 6
    assert ok.status_code == 200, ok.text
    assert ok.json()["summary"]["ok"] == 4
    refused = _api(live_server, "/api/test/mcp", user, {"organization": slug, "operation": "tools/list"})
    assert refused.status_code == 429
    body = refused.json()
    assert body["code"] == "rate_limited" and body["limit"] == "mcp_per_org_per_minute"
    assert int(refused.headers["retry-after"]) == body["retry_after"] and 1 <= body["retry_after"] <= 60
    assert "Too Many Requests" in body["detail"]
    assert TestRun.objects.for_org(tenant.org).count() == 4
    (hit, *_) = _hits(tenant.org, "api")
    assert hit.data["limit"] == "mcp_per_org_per_minute" and hit.actor_id == str(user.pk)


def test_a_batch_larger_than_what_is_left_runs_nothing(live_server, committed):
    tenant, user = _world(mcp_per_org_per_minute=6)
    _same_window()
    _spend_mcp(live_server, tenant, 3)
    refused = _api(live_server, "/api/test/mcp", user, _batch(tenant.org.slug, 4))  # 3 + 4 > 6
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert TestRun.objects.for_org(tenant.org).count() == 0


# --------------------------------------------------------------------------- scenarios
def _scenario(steps: int) -> str:
    lines = ["name: burst", "steps:"]
    for number in range(1, steps + 1):
        lines += [f"  - name: s{number}", "    operation: tools/list"]
    return "\n".join(lines) + "\n"


def test_scenario_steps_count_and_a_refused_step_stops_the_run(live_server, committed):
    tenant, user = _world(mcp_per_org_per_minute=5)
    _same_window()
    _spend_mcp(live_server, tenant, 2)
    response = _api(
        live_server,
        "/api/test/scenarios",
        user,
        {"organization": tenant.org.slug, "yaml": _scenario(5), "stop_on_failure": False},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["status"] == "failed" and report["passed"] is False
    assert [step["status"] for step in report["steps"]] == ["passed"] * 3 + ["failed", "skipped"]
    refused = report["steps"][3]
    assert refused["message"].startswith("rate limited: Too Many Requests")
    assert "mcp per org per minute" in refused["message"] and refused["test_run_id"] is None
    assert report["message"].startswith("the run stopped: Too Many Requests")
    run = ScenarioRun.objects.get(public_id=report["run_id"])
    assert (run.status, run.passed_steps, run.failed_steps) == ("failed", 3, 1)
    assert TestRun.objects.for_org(tenant.org).count() == 3
    (hit, *_) = _hits(tenant.org, "scenario")
    assert hit.data["limit"] == "mcp_per_org_per_minute"


# --------------------------------------------------------------------------- /sse
def test_sse_draws_from_the_same_bucket(live_server, committed):
    tenant, _user = _world(mcp_per_org_per_minute=3)
    headers = {"Authorization": f"Bearer {tenant.key}", "Accept": "text/event-stream"}
    _same_window()
    with httpx2.stream("GET", live_server.sse_url, headers=headers, timeout=WAIT) as stream:
        assert stream.status_code == 200  # 1
    _spend_mcp(live_server, tenant, 2)  # 3
    refused = httpx2.get(live_server.sse_url, headers=headers, timeout=WAIT)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    error = refused.json()["error"]
    assert error["code"] == -32013 and error["data"]["limit"] == "mcp_per_org_per_minute"
    (hit, *_) = _hits(tenant.org, None)
    assert hit.data == {"limit": "mcp_per_org_per_minute", "path": "/sse"}
