"""Schemathesis against the REST API's own OpenAPI schema (``/api/schema/``) on a live server.

Every operation gets schema-generated bodies, valid and invalid, sent with a valid JWT of a member
of a real organization (half of the bodies name it, so operations really run). Checks: never a
5xx, status codes, content types, headers and bodies as the schema documents them, and invalid
input refused.
"""

from __future__ import annotations

import uuid

import httpx2
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from omni.registry.models import Prompt, ServerConnection
from omni.tenants.services import add_member, create_organization
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.live

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture
def api_member(live_server, committed) -> tuple[str, str]:
    """(organization slug, access token) of a member of an organization with a server and a prompt."""
    suffix = uuid.uuid4().hex[:8]
    user = UserFactory(username=f"fuzz-{suffix}")
    org = create_organization(f"fuzz-api-{suffix}", "Fuzz API")
    add_member(org, user, "member")
    ServerConnection.objects.create(
        organization=org, name="utilities", transport="inprocess", target="utilities", timeout_seconds=10
    )
    Prompt.objects.create(
        organization=org,
        name="greet",
        arguments=[{"name": "who", "required": True}],
        messages=[{"role": "user", "content": "hi {who}"}],
    )
    tokens = httpx2.post(
        f"{live_server.url}/api/auth/token/",
        json={"username": user.username, "password": TEST_PASSWORD},
        timeout=10,
    ).json()
    return org.slug, tokens["access"]


# schemathesis.pytest.from_fixture does not work with pytest 9 (it reads a private attribute of the
# test item), so the operations are driven here with their Hypothesis strategies.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_keeps_its_schema(live_server, api_member, mode):
    slug, access = api_member
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/auth/token/", "/api/auth/token/refresh/", "/api/test/mcp"}
    statuses: dict[str, set[int]] = {}

    for operation in operations:

        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case) -> None:
            if (
                mode == GenerationMode.POSITIVE
                and isinstance(case.body, dict)
                and "organization" in case.body
                and len(str(case.body)) % 2
            ):
                # Really run some operations, as the member. Only for valid bodies: in a negative
                # case the organization may be the one invalid part, and replacing it would turn
                # the case into a valid request that is rightly accepted.
                case.body["organization"] = slug
            response = case.call_and_validate(headers={"Authorization": f"Bearer {access}"}, checks=CHECKS)
            statuses.setdefault(operation.label, set()).add(response.status_code)

        run()
    if mode == GenerationMode.POSITIVE:
        assert 200 in statuses["POST /api/test/mcp"], statuses  # operations really ran
