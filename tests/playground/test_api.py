"""POST /api/test/mcp: authentication, validation (400), tenancy (404), roles (403), batches, the
results' timing and validation, stored runs; and the published OpenAPI schema."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from omni.playground.models import TestRun

URL = "/api/test/mcp"
CALC = {"name": "utilities__calculate", "arguments": {"expression": "2*(3+4)"}}


def _client(user=None, *, csrf: bool = False) -> APIClient:
    client = APIClient(enforce_csrf_checks=csrf)
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def _runs(lab) -> int:
    return TestRun.objects.for_org(lab.acme.org).count()


def test_token_auth_runs_one_operation_and_stores_it(lab):
    response = _client(lab.owner).post(
        URL, {"organization": lab.slug, "operation": "tools/call", "params": CALC}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["organization"] == lab.slug
    assert body["summary"] == {
        "total": 1,
        "ok": 1,
        "error": 0,
        "invalid": 0,
        "duration_ms": body["results"][0]["duration_ms"],
    }
    result = body["results"][0]
    assert (
        result["outcome"] == "ok" and result["method"] == "tools/call" and result["protocol"] == "2026-07-28"
    )
    assert result["duration_ms"] > 0 and result["error"] is None and result["events"] == []
    assert result["request"] == {"jsonrpc": "2.0", "method": "tools/call", "params": CALC}
    assert result["response"]["structuredContent"]["result"] == 14
    assert result["validation"]["schema"]["valid"] is True
    assert result["validation"]["schema"]["type"].startswith("CallToolResult")
    assert result["validation"]["output_schema"] == {
        "checked": True,
        "valid": True,
        "errors": [],
        "type": None,
    }
    run = TestRun.objects.for_org(lab.acme.org).get(public_id=result["run_id"])
    assert (run.source, run.user, run.target, run.outcome) == ("api", lab.owner, "utilities__calculate", "ok")


def test_a_batch_runs_in_order(lab):
    response = _client(lab.member).post(
        URL,
        {
            "organization": lab.slug,
            "operations": [
                {"operation": "tools/list"},
                {"operation": "prompts/get", "params": {"name": "greet", "arguments": {"who": "Ada"}}},
                {"operation": "resources/read", "params": {"uri": "memo://acme/readme"}},
                {"operation": "tools/call", "params": {"name": "utilities__calculate", "arguments": {}}},
                {"operation": "ping"},
                {"operation": "jsonrpc", "params": {"method": "no/such"}},
            ],
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["operation"] for r in results] == [
        "tools/list",
        "prompts/get",
        "resources/read",
        "tools/call",
        "ping",
        "jsonrpc",
    ]
    assert [r["outcome"] for r in results] == ["ok", "ok", "ok", "error", "ok", "error"]
    assert results[4]["protocol"] == "2025-11-25"
    assert results[5]["error"]["code"] == -32601
    assert response.json()["summary"]["ok"] == 4 and response.json()["summary"]["error"] == 2
    assert _runs(lab) == 6


def test_session_auth_needs_csrf(lab):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(lab.owner)
    body = {"organization": lab.slug, "operation": "prompts/list"}
    refused = client.post(URL, body, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    token = "a" * 32  # a CSRF secret, in the cookie and (unmasked) in the header
    client.cookies["csrftoken"] = token
    accepted = client.post(URL, body, format="json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 200, accepted.content
    assert _runs(lab) == 1


def test_unauthenticated_is_401(lab):
    response = APIClient().post(URL, {"organization": lab.slug, "operation": "ping"}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    bad_token = APIClient()
    bad_token.credentials(HTTP_AUTHORIZATION="Token nope")
    assert (
        bad_token.post(URL, {"organization": lab.slug, "operation": "ping"}, format="json").status_code == 401
    )
    assert _runs(lab) == 0


@pytest.mark.parametrize("who", ["outsider", "superuser"])
def test_non_members_get_404_like_an_unknown_organization(lab, who):
    client = _client(getattr(lab, who))
    foreign = client.post(URL, {"organization": lab.slug, "operation": "ping"}, format="json")
    unknown = client.post(URL, {"organization": "no-such-org", "operation": "ping"}, format="json")
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json() == {"detail": "No such organization."}
    assert _runs(lab) == 0


def test_a_viewer_may_read_but_not_call_tools(lab):
    client = _client(lab.viewer)
    read = client.post(URL, {"organization": lab.slug, "operation": "resources/list"}, format="json")
    assert read.status_code == 200
    call = client.post(
        URL, {"organization": lab.slug, "operation": "tools/call", "params": CALC}, format="json"
    )
    assert call.status_code == 403 and "tools:call" in call.json()["detail"]
    raw = client.post(
        URL,
        {
            "organization": lab.slug,
            "operation": "jsonrpc",
            "params": {"method": "tools/call", "params": CALC},
        },
        format="json",
    )
    assert raw.status_code == 403
    mixed = client.post(
        URL,
        {
            "organization": lab.slug,
            "operations": [{"operation": "tools/list"}, {"operation": "tools/call", "params": CALC}],
        },
        format="json",
    )
    assert mixed.status_code == 403
    assert _runs(lab) == 1  # only the allowed read; a refused batch runs nothing


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"operation": "ping"}, {"organization": ["This field is required."]}),
        ({"organization": "Not a slug!", "operation": "ping"}, "organization"),
        (
            {"organization": "acme"},
            {"non_field_errors": ["Send either 'operation' (one) or 'operations' (a batch), not both."]},
        ),
        (
            {"organization": "acme", "operation": "ping", "operations": [{"operation": "ping"}]},
            "non_field_errors",
        ),
        ({"organization": "acme", "operation": "tools/destroy"}, "operation"),
        (
            {"organization": "acme", "operation": "tools/call"},
            {"params": {"name": ["This field is required."]}},
        ),
        (
            {"organization": "acme", "operation": "tools/call", "params": []},
            {"params": ["Must be a JSON object."]},
        ),
        (
            {"organization": "acme", "operation": "tools/call", "params": {"name": 5}},
            {"params": {"name": ["Not a valid string."]}},
        ),
        (
            {"organization": "acme", "operation": "tools/call", "params": {"name": "x", "arguments": [1]}},
            {"params": {"arguments": ["Must be a JSON object."]}},
        ),
        (
            {
                "organization": "acme",
                "operation": "prompts/get",
                "params": {"name": "greet", "arguments": {"who": 1}},
            },
            {"params": {"arguments": {"who": ["Not a valid string."]}}},
        ),
        (
            {"organization": "acme", "operation": "resources/read", "params": {}},
            {"params": {"uri": ["This field is required."]}},
        ),
        ({"organization": "acme", "operation": "jsonrpc", "params": {"method": "has space"}}, "params"),
        (
            {"organization": "acme", "operation": "jsonrpc", "params": {"method": "x", "params": [1]}},
            "params",
        ),
        ({"organization": "acme", "operation": "ping", "protocol": "2099-01-01"}, "protocol"),
        ({"organization": "acme", "operations": []}, "operations"),
        ({"organization": "acme", "operations": [{"operation": "ping"}] * 21}, "operations"),
        (
            {"organization": "acme", "operations": [{"operation": "ping"}], "params": {}},
            {"params": ["Give it inside each item of 'operations'."]},
        ),
        (
            {
                "organization": "acme",
                "operations": [{"operation": "ping"}, {"operation": "tools/call", "params": {}}],
            },
            {"operations": {"1": {"params": {"name": ["This field is required."]}}}},  # by index
        ),
        ([1, 2], "non_field_errors"),
    ],
)
def test_bad_bodies_are_400_with_field_errors_and_run_nothing(lab, body, errors):
    if isinstance(body, dict) and body.get("organization") == "acme":
        body = {**body, "organization": lab.slug}
    response = _client(lab.owner).post(URL, body, format="json")
    assert response.status_code == 400, response.content
    if isinstance(errors, dict):
        assert response.json() == errors
    else:
        assert errors in response.json()
    assert _runs(lab) == 0


def test_malformed_json_and_other_media_types(lab):
    client = _client(lab.owner)
    broken = client.post(URL, data="{not json", content_type="application/json")
    assert broken.status_code == 400 and "JSON parse error" in broken.json()["detail"]
    form = client.post(URL, {"organization": lab.slug, "operation": "ping"})  # multipart
    assert form.status_code == 415
    assert client.get(URL).status_code == 405
    assert _runs(lab) == 0


def test_openapi_schema_and_docs(client, lab):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    document = schema.json()
    operation = document["paths"]["/api/test/mcp"]["post"]
    assert operation["operationId"] == "test_mcp"
    assert set(operation["responses"]) == {"200", "400", "401", "403", "404", "415", "429"}
    assert {"tokenAuth", "cookieAuth"} <= {next(iter(s)) for s in operation["security"]}
    assert "McpTestRequest" in document["components"]["schemas"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn." not in html and "unpkg" not in html  # no internet for browsers here


def test_openapi_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/test/mcp" in (tmp_path / "schema.yaml").read_text()
