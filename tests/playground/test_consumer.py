"""The playground websocket (``/ws/playground/<slug>/``) through the project's real ASGI stack:
authentication on connect, authorisation per message, events in order, runs stored."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.urls import path

from omni.asgi import application
from omni.playground.consumers import PlaygroundConsumer
from omni.playground.models import TestRun
from omni.playground.origin import origin_allowed
from omni.tenants.models import Membership
from tests.playground.servers import steps

pytestmark = pytest.mark.usefixtures("_close_orm_thread_connections")

CALC = {"name": "utilities__calculate", "arguments": {"expression": "6*7"}}
WAIT = 30


@sync_to_async
def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def _connect(
    slug: str,
    user=None,
    *,
    origin: str | None = "http://127.0.0.1:8000",
    app=application,
    prefix="playground",
    host: str = "127.0.0.1:8000",
):
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if user is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={await _session_cookie(user)}".encode()))
    communicator = WebsocketCommunicator(app, f"/ws/{prefix}/{slug}/", headers=headers)
    connected, _ = await communicator.connect(timeout=WAIT)
    return communicator, connected


async def _closed_with(communicator) -> int:
    message = await communicator.receive_output(timeout=WAIT)
    assert message["type"] == "websocket.close"
    return message["code"]


async def _ready(slug, user, **kwargs):
    communicator, connected = await _connect(slug, user, **kwargs)
    assert connected
    assert await communicator.receive_json_from(timeout=WAIT) == {"type": "ready", "organization": slug}
    return communicator


async def _until_final(communicator) -> list[dict]:
    events = []
    while True:
        event = await communicator.receive_json_from(timeout=WAIT)
        events.append(event)
        if event["type"] in ("response", "error", "invalid", "denied", "catalogue"):
            return events


async def test_anonymous_is_closed_with_4403(committed_lab):
    communicator, connected = await _connect(committed_lab.slug)
    assert connected and await _closed_with(communicator) == 4403


@pytest.mark.parametrize("who", ["outsider", "superuser"])
async def test_non_members_are_closed_with_4404_like_an_unknown_org(committed_lab, who):
    user = getattr(committed_lab, who)
    communicator, _ = await _connect(committed_lab.slug, user)
    assert await _closed_with(communicator) == 4404
    unknown, _ = await _connect("no-such-org", user)
    assert await _closed_with(unknown) == 4404


async def test_a_foreign_origin_is_refused(committed_lab):
    communicator, connected = await _connect(
        committed_lab.slug, committed_lab.owner, origin="http://evil.example"
    )
    assert not connected
    await communicator.disconnect()


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9999",  # another program on the same host: the port differs
        "https://127.0.0.1:8000",  # the scheme differs
        "http://127.0.0.1",  # port 80 is not 8000
        "http://127.0.0.1:8000@evil.example",
        "null",
        None,
    ],
)
async def test_the_origin_must_be_this_sites_scheme_host_and_port(committed_lab, origin):
    communicator, connected = await _connect(committed_lab.slug, committed_lab.owner, origin=origin)
    assert not connected
    await communicator.disconnect()


async def test_a_default_port_matches_a_host_without_port(committed_lab):
    communicator = await _ready(
        committed_lab.slug, committed_lab.owner, origin="http://localhost", host="localhost"
    )
    await communicator.disconnect()


def _scope(origin: str, host: str = "127.0.0.1:8000", scheme: str = "ws", **headers: str) -> dict:
    extra = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return {
        "type": "websocket",
        "scheme": scheme,
        "headers": [(b"host", host.encode()), (b"origin", origin.encode()), *extra],
    }


def test_origin_rules(settings):
    assert origin_allowed(_scope("http://127.0.0.1:8000"))
    assert origin_allowed(_scope("HTTP://127.0.0.1:8000/"))
    assert origin_allowed(_scope("http://[::1]:8000", host="[::1]:8000"))
    assert not origin_allowed(_scope("http://127.0.0.1:8001"))
    assert not origin_allowed(_scope("http://127.0.0.1:8000", host="evil.example:8000"))  # Host not allowed
    assert origin_allowed(_scope("https://localhost", host="localhost", scheme="wss"))
    assert not origin_allowed(_scope("http://localhost", host="localhost", scheme="wss"))
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert origin_allowed(_scope("https://localhost", host="localhost", x_forwarded_proto="https"))
    assert not origin_allowed(_scope("https://localhost", host="localhost"))
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.org", "http://ui.example.com:8080"]
    assert origin_allowed(_scope("https://app.example.org"))
    assert origin_allowed(_scope("http://ui.example.com:8080"))
    assert not origin_allowed(_scope("https://app.example.org:444"))
    assert not origin_allowed(_scope("http://app.example.org"))
    assert not origin_allowed(_scope("http://ui.example.com"))
    assert not origin_allowed(_scope("https://example.org.evil.example"))


async def test_run_streams_request_then_response_and_stores_the_run(committed_lab):
    communicator = await _ready(committed_lab.slug, committed_lab.owner)
    await communicator.send_json_to({"type": "run", "id": "r1", "operation": "tools/call", "params": CALC})
    events = await _until_final(communicator)
    assert [e["type"] for e in events] == ["request", "response"]
    request, response = events
    assert request["id"] == response["id"] == "r1"
    assert request["request"] == {"jsonrpc": "2.0", "method": "tools/call", "params": CALC}
    assert response["outcome"] == "ok" and response["response"]["structuredContent"]["result"] == 42
    assert response["duration_ms"] > 0 and response["at_ms"] >= response["duration_ms"]
    assert response["validation"]["output_schema"]["valid"] is True
    run = await TestRun.objects.aget(public_id=response["run_id"])
    assert (run.organization_id, run.source, run.user_id) == (
        committed_lab.acme.org.pk,
        "playground",
        committed_lab.owner.pk,
    )
    await communicator.disconnect()


async def test_errors_are_events_too(committed_lab):
    communicator = await _ready(committed_lab.slug, committed_lab.member)
    await communicator.send_json_to({"id": 7, "operation": "prompts/get", "params": {"name": "nope"}})
    events = await _until_final(communicator)
    assert [e["type"] for e in events] == ["request", "error"]
    assert events[-1]["id"] == 7 and events[-1]["error"]["code"] == -32602 and events[-1]["run_id"]
    await communicator.disconnect()


async def test_viewer_may_read_but_not_call(committed_lab):
    communicator = await _ready(committed_lab.slug, committed_lab.viewer)
    await communicator.send_json_to({"id": "a", "operation": "tools/call", "params": CALC})
    denied = await communicator.receive_json_from(timeout=WAIT)
    assert denied["type"] == "denied" and denied["status"] == 403 and denied["id"] == "a"
    await communicator.send_json_to(
        {"id": "b", "operation": "resources/read", "params": {"uri": "memo://acme/readme"}}
    )
    events = await _until_final(communicator)
    assert (
        events[-1]["type"] == "response" and events[-1]["response"]["contents"][0]["text"] == "# acme readme"
    )
    runs = await sync_to_async(list)(
        TestRun.objects.for_org(committed_lab.acme.org).values_list("operation", flat=True)
    )
    assert runs == ["resources/read"]  # the refused call stored nothing
    await communicator.disconnect()


async def test_bad_messages_get_field_errors(committed_lab):
    communicator = await _ready(committed_lab.slug, committed_lab.owner)
    await communicator.send_json_to({"id": "x", "operation": "tools/call", "params": {}})
    invalid = await communicator.receive_json_from(timeout=WAIT)
    assert invalid == {
        "type": "invalid",
        "id": "x",
        "status": 400,
        "errors": {"params": {"name": ["This field is required."]}},
    }
    await communicator.send_json_to([1, 2])
    assert (await communicator.receive_json_from(timeout=WAIT))["status"] == 400
    await communicator.send_json_to({"id": "y", "type": "explode"})
    assert (await communicator.receive_json_from(timeout=WAIT))["errors"] == {
        "type": ["Expected 'run' or 'catalogue'."]
    }
    await communicator.send_json_to({"id": "z", "operation": "ping", "protocol": "1999"})
    assert "protocol" in (await communicator.receive_json_from(timeout=WAIT))["errors"]
    await communicator.send_to(text_data="{not json")
    assert await communicator.receive_json_from(timeout=WAIT) == {
        "type": "invalid",
        "id": None,
        "status": 400,
        "errors": ["Not valid JSON."],
    }
    await communicator.send_to(bytes_data=b"\x00")
    assert (await communicator.receive_json_from(timeout=WAIT))["errors"] == ["Send JSON text frames."]
    assert await sync_to_async(TestRun.objects.for_org(committed_lab.acme.org).count)() == 0
    await communicator.disconnect()


async def test_catalogue_is_what_clients_see_and_is_not_stored(committed_lab):
    communicator = await _ready(committed_lab.slug, committed_lab.viewer)
    await communicator.send_json_to({"type": "catalogue", "id": "c"})
    catalogue = (await _until_final(communicator))[-1]
    assert catalogue["type"] == "catalogue" and catalogue["id"] == "c" and catalogue["errors"] == {}
    assert len(catalogue["tools"]) == 22
    assert {p["name"] for p in catalogue["prompts"]} == {"greet", "acme_only"}
    assert {r["uri"] for r in catalogue["resources"]} == {"memo://acme/readme", "memo://acme/logo.png"}
    assert [t["uriTemplate"] for t in catalogue["resourceTemplates"]] == ["topics://{topic}/summary"]
    assert await sync_to_async(TestRun.objects.for_org(committed_lab.acme.org).count)() == 0
    await communicator.disconnect()


async def test_a_removed_member_is_cut_off_at_the_next_message(committed_lab):
    communicator = await _ready(committed_lab.slug, committed_lab.member)
    await sync_to_async(Membership.objects.filter(user=committed_lab.member).delete)()
    await communicator.send_json_to({"id": "1", "operation": "ping"})
    assert await _closed_with(communicator) == 4404


class StepsConsumer(PlaygroundConsumer):
    mcp_server = steps  # a real MCP server that reports progress and logs while it works


steps_app = AuthMiddlewareStack(URLRouter([path("ws/steps/<slug:slug>/", StepsConsumer.as_asgi())]))


async def test_progress_and_logs_stream_between_request_and_response(committed_lab):
    communicator = await _ready(committed_lab.slug, committed_lab.member, app=steps_app, prefix="steps")
    await communicator.send_json_to(
        {"id": "s", "operation": "tools/call", "params": {"name": "count", "arguments": {"steps": 3}}}
    )
    events = await _until_final(communicator)
    assert [e["type"] for e in events] == ["request"] + ["log", "progress"] * 3 + ["response"]
    assert all(e["id"] == "s" for e in events)
    assert [e["progress"] for e in events if e["type"] == "progress"] == [1, 2, 3]
    assert [e["at_ms"] for e in events] == sorted(e["at_ms"] for e in events)
    run = await TestRun.objects.aget(public_id=events[-1]["run_id"])
    assert [e["type"] for e in run.events] == ["log", "progress"] * 3
    await communicator.disconnect()
