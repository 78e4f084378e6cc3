"""/metrics in one process: access (token, CIDR allow-list) with JSON refusals, the Prometheus text
format, the gateway observer's MCP histogram and refusal counter, scrape-time families (sessions,
streams, queue depth, registered collectors, a failing collector), Django's request metrics, and
the OTEL_* parsing that decides whether tracing is on."""

from __future__ import annotations

import json

import pytest
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from omni.gateway import observe
from omni.gateway.observe import RequestRecord
from omni.monitoring.metrics import register_collector, subscriber, unregister_collector
from omni.monitoring.tracing import requested_exporters

pytestmark = pytest.mark.django_db

LABELS = (
    "mcp_method_name",
    "gen_ai_tool_name",
    "gen_ai_prompt_name",
    "error_type",
    "omni_outcome",
    "omni_server",
    "omni_transport",
    "omni_org",
)


def count(**labels: str) -> float:
    full = {name: labels.get(name, "") for name in LABELS}
    return REGISTRY.get_sample_value("mcp_server_operation_duration_seconds_count", full) or 0.0


def scrape(client, **extra) -> tuple[int, dict]:
    response = client.get("/metrics", **extra)
    body = response.content.decode()
    if response.status_code != 200:
        return response.status_code, json.loads(body)
    return 200, {family.name: family for family in text_string_to_metric_families(body)}


def sample(families: dict, family: str, name: str, **labels: str) -> float | None:
    for s in families[family].samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


# --------------------------------------------------------------------------- the observer
def test_subscriber_is_subscribed_and_counts_each_record_with_semconv_labels():
    assert subscriber.observe in observe._subscribers
    labels = {"gen_ai_tool_name": "kn__unit", "omni_server": "kn", "omni_transport": "streamable"}
    before = count(mcp_method_name="tools/call", omni_outcome="ok", **labels)
    for _ in range(3):
        observe.emit(
            RequestRecord(
                org_id=1, org_slug="acme", api_key_id="k", method="tools/call", target="kn__unit",
                server="kn", duration=0.03, transport="streamable",
            )
        )  # fmt: skip
    observe.emit(
        RequestRecord(
            org_id=1, org_slug="acme", api_key_id="k", method="tools/call", target="kn__unit",
            server="kn", outcome="tool_error", duration=0.5, transport="streamable",
        )
    )  # fmt: skip
    assert count(mcp_method_name="tools/call", omni_outcome="ok", **labels) == before + 3
    # error_type is empty on success and names the failure otherwise (semantic conventions)
    failed = {"omni_outcome": "tool_error", "error_type": "tool_error"}
    assert count(mcp_method_name="tools/call", **failed, **labels) >= 1
    full = {name: "" for name in LABELS} | labels | {"mcp_method_name": "tools/call", "omni_outcome": "ok"}
    bucket = REGISTRY.get_sample_value("mcp_server_operation_duration_seconds_bucket", {**full, "le": "0.05"})
    assert bucket >= 3


def test_org_label_only_when_enabled(settings):
    subscriber.reset_cache()
    record = RequestRecord(org_id=7, org_slug="org-label-test", api_key_id=None, method="ping")
    settings.METRICS_ORG_LABEL = False
    observe.emit(record)
    assert count(mcp_method_name="ping", omni_outcome="ok", omni_org="org-label-test") == 0
    settings.METRICS_ORG_LABEL = True
    subscriber.reset_cache()
    observe.emit(record)
    assert count(mcp_method_name="ping", omni_outcome="ok", omni_org="org-label-test") == 1
    subscriber.reset_cache()


def test_refusals_counted_by_reason_and_limit():
    labels = {"reason": "rate_limited", "limit": "mcp_per_key_per_minute", "mcp_method_name": "tools/call"}
    before = REGISTRY.get_sample_value("omni_gateway_refusals_total", {**labels, "omni_org": ""}) or 0
    observe.emit(
        RequestRecord(
            org_id=1, org_slug="acme", api_key_id="k", method="tools/call", target="x", outcome="refused",
            error_type="rate_limited", detail="mcp_per_key_per_minute",
        )
    )  # fmt: skip
    assert REGISTRY.get_sample_value("omni_gateway_refusals_total", {**labels, "omni_org": ""}) == before + 1


def test_client_chosen_names_are_bounded(monkeypatch):
    subscriber.reset_cache()
    monkeypatch.setattr(subscriber, "MAX_NAMES", 2)
    for name in ("a1", "a2", "a3", "a4"):
        observe.emit(RequestRecord(org_id=1, org_slug="x", api_key_id=None, method="tools/call", target=name))
    observe.emit(RequestRecord(org_id=1, org_slug="x", api_key_id=None, method="made/up"))
    assert count(mcp_method_name="tools/call", gen_ai_tool_name="a3", omni_outcome="ok") == 0
    assert count(mcp_method_name="tools/call", gen_ai_tool_name="other", omni_outcome="ok") >= 2
    assert count(mcp_method_name="other", omni_outcome="ok") >= 1
    subscriber.reset_cache()


def test_a_failing_subscriber_never_breaks_emit():
    def broken(record):
        raise RuntimeError("boom")

    observe.subscribe(broken)
    try:
        observe.emit(RequestRecord(org_id=1, org_slug="x", api_key_id=None, method="ping"))
    finally:
        observe.unsubscribe(broken)


# --------------------------------------------------------------------------- access
def test_loopback_may_scrape_by_default(client):
    status, families = scrape(client)
    assert status == 200
    assert "mcp_server_operation_duration_seconds" in families


def test_other_addresses_get_403_json_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""
    status, body = scrape(client, REMOTE_ADDR="10.1.2.3")
    assert status == 403
    assert body["error"] == "forbidden" and "METRICS_ALLOW_CIDRS" in body["detail"]


def test_allow_list_admits_a_network(client, settings):
    settings.METRICS_ALLOW_CIDRS = ["10.1.0.0/16"]
    assert scrape(client, REMOTE_ADDR="10.1.2.3")[0] == 200
    assert scrape(client, REMOTE_ADDR="10.2.0.1")[0] == 403
    assert scrape(client, REMOTE_ADDR="127.0.0.1")[0] == 403  # the list replaces the default


def test_token(client, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    outside = {"REMOTE_ADDR": "192.0.2.10"}
    status, body = scrape(client, **outside)
    assert status == 401 and body["error"] == "unauthorized"
    response = client.get("/metrics", **outside)
    assert response["WWW-Authenticate"].startswith("Bearer")
    status, body = scrape(client, HTTP_AUTHORIZATION="Bearer wrong", **outside)
    assert status == 401 and "wrong" in body["detail"]
    assert scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-token", **outside)[0] == 200
    # a wrong token is refused even from an allowed address (it was presented: it must be right)
    assert scrape(client, HTTP_AUTHORIZATION="Bearer wrong")[0] == 401


def test_only_get(client):
    assert client.post("/metrics").status_code == 405


def test_metrics_is_exempt_from_the_rate_limiter(settings):
    assert "/metrics" in settings.RATELIMIT_EXEMPT_PATHS


# --------------------------------------------------------------------------- scrape-time families
def test_scrape_time_families_and_registered_collectors(client):
    def status_collector():
        family = GaugeMetricFamily("omni_test_server_up", "test", labels=["server"])
        family.add_metric(["kn"], 1)
        yield family

    def broken_collector():
        raise RuntimeError("collector down")
        yield  # pragma: no cover

    register_collector(status_collector)
    register_collector(broken_collector)
    try:
        status, families = scrape(client)
    finally:
        unregister_collector(status_collector)
        unregister_collector(broken_collector)
    assert status == 200
    assert sample(families, "omni_test_server_up", "omni_test_server_up", server="kn") == 1
    assert sample(families, "omni_gateway_sessions_open", "omni_gateway_sessions_open") is not None
    assert sample(families, "omni_gateway_streams_open", "omni_gateway_streams_open") is not None
    assert sample(families, "omni_celery_queue_depth", "omni_celery_queue_depth", queue="celery") is not None
    errors = families["omni_metrics_scrape_errors"]
    by_source = {s.labels["source"]: s.value for s in errors.samples}
    assert by_source["sessions"] == 0 and by_source["celery_queues"] == 0
    assert by_source[broken_collector.__qualname__] == 1
    assert by_source[status_collector.__qualname__] == 0


def test_queue_depth_reads_the_broker(client, settings):
    import redis

    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    settings.METRICS_CELERY_QUEUES = ["omni-metrics-test-queue"]
    r = redis.Redis.from_url(settings.REDIS_URL)
    r.delete("omni-metrics-test-queue")
    r.rpush("omni-metrics-test-queue", "a", "b", "c")
    try:
        _, families = scrape(client)
    finally:
        r.delete("omni-metrics-test-queue")
    family = "omni_celery_queue_depth"
    depth = sample(families, family, family, queue="omni-metrics-test-queue")
    assert depth == 3


def test_django_request_metrics_by_view_and_status(client):
    labels = {"view": "healthz", "method": "GET", "status": "200"}
    before = REGISTRY.get_sample_value("django_http_requests_total", labels) or 0
    assert client.get("/healthz").status_code == 200
    assert REGISTRY.get_sample_value("django_http_requests_total", labels) == before + 1
    unresolved = {"view": "<unresolved>", "method": "GET", "status": "404"}
    before = REGISTRY.get_sample_value("django_http_requests_total", unresolved) or 0
    client.get("/no-such-page-for-metrics")
    assert REGISTRY.get_sample_value("django_http_requests_total", unresolved) == before + 1


# --------------------------------------------------------------------------- tracing switch
@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, []),
        ({"OTEL_TRACES_EXPORTER": "none"}, []),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, ["otlp", "console"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}, []),
    ],
)
def test_requested_exporters(environ, expected):
    assert requested_exporters(environ) == expected


def test_unknown_exporter_is_an_error():
    with pytest.raises(ValueError, match="zipkin"):
        requested_exporters({"OTEL_TRACES_EXPORTER": "zipkin"})


def test_tracing_is_off_in_the_test_process():
    from omni.gateway import tracing as gateway_tracing

    assert gateway_tracing.ENABLED is False
    assert gateway_tracing.span("x") is gateway_tracing.span("y")  # one shared null context


# --------------------------------------------------------------------------- sessions and streams
async def test_open_totals_of_the_memory_backend():
    import time

    from omni.gateway.sessions import SessionRecord
    from omni.gateway.sessions_memory import MemorySessionBackend

    backend = MemorySessionBackend(idle_seconds=60, history=10)
    deadline = time.monotonic() + 1
    assert backend.open_totals(deadline) == (0, 0)
    for n in range(2):
        record = SessionRecord(f"s{n}", 1, "cred", "2025-11-25", "streamable_http", {}, time.time())
        await backend.create(record)
    assert await backend.acquire_stream_slot("cred", 1, "token", 60, (5, 5)) is None
    assert backend.open_totals(deadline) == (2, 1)
    await backend.release_stream_slot("cred", 1, "token")
    await backend.delete("s0")
    assert backend.open_totals(deadline) == (1, 0)


async def test_open_totals_of_the_redis_backend(settings):
    import time
    import uuid

    from omni.gateway.sessions import SessionRecord
    from omni.gateway.sessions_redis import RedisSessionBackend

    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    backend = RedisSessionBackend(settings.REDIS_URL, idle_seconds=60, history=10)
    before = backend.open_totals(time.monotonic() + 2)
    org = 10**9 + uuid.uuid4().int % 10**6  # an organization id of its own
    sid = f"metrics-{uuid.uuid4().hex}"
    await backend.create(SessionRecord(sid, org, "cred-m", "2025-11-25", "streamable_http", {}, time.time()))
    assert await backend.acquire_stream_slot("cred-m", org, "tok-m", 60, (5, 5)) is None
    try:
        during = backend.open_totals(time.monotonic() + 2)
        assert during[0] >= before[0] + 1 and during[1] >= before[1] + 1
    finally:
        await backend.release_stream_slot("cred-m", org, "tok-m")
        await backend.delete(sid)
