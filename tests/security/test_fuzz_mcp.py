"""Fuzzing ``/mcp`` over real HTTP with malformed JSON-RPC: never a 5xx, always a JSON answer.

Hypothesis generates random JSON values, JSON-RPC messages with wrong types for ``id``, ``method``
and ``params``, deep nesting, odd unicode and broken bytes, and sends them to a live server with a
valid API key — without a session (2026-07-28), inside an initialized session (2025-06-18), and
with a bogus protocol version. Every answer must be a non-5xx status whose body (if any) is JSON or
SSE events carrying JSON, and the server must stay healthy.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

import httpx2
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from omni.registry.models import Prompt, Resource, ServerConnection
from omni.tenants.services import create_api_key, create_organization
from tests.gateway import rawmcp
from tests.live import http_get

pytestmark = pytest.mark.live

METHODS = [
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "completion/complete",
    "logging/setLevel",
    "notifications/initialized",
    "notifications/cancelled",
    "subscriptions/listen",
]
TOOLS = ["utilities__calculate", "utilities__hash", "knowledge__create_note", "knowledge__search_notes"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=40,
)
ids = st.one_of(st.integers(), st.text(max_size=20), st.none(), st.floats(allow_nan=False), json_values)
methods = st.one_of(st.sampled_from(METHODS), st.text(max_size=30), json_values)
tool_params = st.fixed_dictionaries(
    {"name": st.one_of(st.sampled_from(TOOLS), st.text(max_size=20), json_values)},
    optional={"arguments": json_values, "_meta": json_values},
)
resource_params = st.fixed_dictionaries({"uri": st.one_of(st.text(max_size=60), json_values)})
params = st.one_of(json_values, tool_params, resource_params)


@st.composite
def messages(draw) -> dict:
    message: dict = {}
    if draw(st.booleans()):
        message["jsonrpc"] = draw(st.one_of(st.just("2.0"), json_values))
    if draw(st.integers(0, 4)):  # mostly requests, sometimes notifications
        message["id"] = draw(ids)
    message["method"] = draw(methods)
    if draw(st.booleans()):
        message["params"] = draw(params)
    extra = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2))
    return {**extra, **message}


def nested(depth: int, opener: str) -> bytes:
    closer = {"[": "]", "{": "}"}[opener]
    inner = '{"a":' if opener == "{" else "["
    return (inner * depth + "1" + closer * depth).encode()


raw_bodies = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.builds(nested, st.integers(1, 60_000), st.sampled_from(["[", "{"])),
    st.builds(
        lambda depth: (
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "tools/call",
                    "params": {"name": "utilities__calculate", "arguments": {"expression": 1}},
                }
            )
            .replace('"expression": 1', '"expression": ' + "[" * depth + "]" * depth)
            .encode()
        ),
        st.integers(1, 50_000),
    ),
)
bodies = st.one_of(
    messages().map(lambda m: json.dumps(m).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.lists(messages(), min_size=0, max_size=3).map(lambda ms: json.dumps(ms).encode()),
    raw_bodies,
)
modes = st.sampled_from(["single", "session", "bogus-version"])


# A valid subscriptions/listen is answered with a stream that lives as long as the client wants
# (keep-alives reset any read timeout): the fuzzer reads an answer for at most this long.
STREAM_READ_SECONDS = 5.0


@dataclass
class Answer:
    status_code: int
    content_type: str
    content: bytes
    cut_off: bool  # the stream was still open when the fuzzer stopped reading


def send(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    deadline = time.monotonic() + STREAM_READ_SECONDS
    chunks: list[bytes] = []
    timeout = httpx2.Timeout(30.0)  # a stream's keep-alives come more often than that
    with httpx2.stream("POST", url, content=body, headers=headers, timeout=timeout) as response:
        content_type = response.headers.get("content-type", "")

        def answer(cut_off: bool) -> Answer:
            return Answer(response.status_code, content_type, b"".join(chunks), cut_off)

        for chunk in response.iter_bytes():
            chunks.append(chunk)
            if time.monotonic() > deadline and content_type.startswith("text/event-stream"):
                return answer(True)
        return answer(False)


def check_answer(answer: Answer) -> None:
    assert answer.status_code < 500, (answer.status_code, answer.content[:500])
    if not answer.content:
        assert answer.status_code in (200, 202, 204), answer.status_code
        return
    if answer.content_type.startswith("text/event-stream"):
        text = answer.content.decode()
        if answer.cut_off:  # only whole events of a stream that was still open
            text = text[: text.rfind("\n\n") + 2]
        for message in rawmcp.parse_sse(text):
            assert isinstance(message, dict)
    else:
        assert not answer.cut_off and answer.content_type.startswith("application/json"), answer.content_type
        json.loads(answer.content)


@pytest.fixture
def fuzz_tenant(committed):
    org = create_organization(f"fuzz-{uuid.uuid4().hex[:10]}", "Fuzz")
    for name in ("utilities", "knowledge"):
        ServerConnection.objects.create(
            organization=org, name=name, transport="inprocess", target=name, timeout_seconds=10
        )
    Prompt.objects.create(
        organization=org,
        name="greet",
        arguments=[{"name": "who", "required": True}],
        messages=[{"role": "user", "content": "hi {who}"}],
    )
    Resource.objects.create(organization=org, uri="memo://fuzz/readme", name="readme", text="hello")
    _key, raw = create_api_key(org, "fuzz")
    return raw


def test_malformed_json_rpc_never_breaks_the_gateway(live_server, fuzz_tenant):
    key = fuzz_tenant
    session, _ = rawmcp.initialize(live_server.mcp_url, key, "2025-06-18")
    tracebacks_before = live_server.logs().count("Traceback")
    statuses: set[int] = set()

    @settings(
        max_examples=250,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=bodies, mode=modes)
    # Always among the cases, whatever the random draw: a valid request in the session (200) and a
    # body that is not JSON (400), so the assertions below never depend on luck.
    @example(body=json.dumps({"jsonrpc": "2.0", "id": 7, "method": "ping"}).encode(), mode="session")
    @example(body=b"{", mode="single")
    def fuzz(body: bytes, mode: str) -> None:
        headers = {
            "Accept": rawmcp.ACCEPT,
            "Content-Type": "application/json",
            "Authorization": f"Bearer {key}",
        }
        if mode == "session":
            headers |= {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-06-18"}
        elif mode == "single":
            headers["MCP-Protocol-Version"] = "2026-07-28"
        else:
            headers |= {"MCP-Protocol-Version": "1999-01-01", "Mcp-Session-Id": "not-a-session"}
        answer = send(live_server.mcp_url, body, headers)
        statuses.add(answer.status_code)
        check_answer(answer)

    fuzz()
    # The fuzzing reached past the parser: valid calls answered, invalid ones refused.
    assert 200 in statuses and 400 in statuses, statuses
    status, _, _ = http_get(f"{live_server.url}/healthz")
    assert status == 200
    logs = live_server.logs()
    assert logs.count("Traceback") == tracebacks_before, logs[-4000:]
