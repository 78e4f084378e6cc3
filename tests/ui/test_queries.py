"""Query budgets: list pages cost the same number of queries for 2 items as for 12 (no N+1)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from omni.tenants.models import Membership
from tests.factories import (
    ApiKeyFactory,
    InvitationFactory,
    PromptFactory,
    ResourceFactory,
    ServerConnectionFactory,
    UserFactory,
)

# session, user, membership (the org context), the list itself, the switcher's organizations.
# The dashboard: the same plus servers, prompts, resources, members and active keys. The members
# page shows a manager the pending invitations too (one more). The servers page and the dashboard
# read the servers' statuses for their badges (one more each, whatever the number of servers).
BUDGETS = {"prompts": 5, "resources": 5, "servers": 6, "keys": 5, "members": 6, "": 10}


def _fill(world, count: int, start: int) -> None:
    for n in range(start, start + count):
        PromptFactory(organization=world.acme, name=f"p{n}")
        ResourceFactory(organization=world.acme, uri=f"docs://acme/q{n}", text="", blob=b"\x00" * 10)
        ServerConnectionFactory(organization=world.acme, name=f"s{n}", tool_allowlist=["calculate"])
        ApiKeyFactory(organization=world.acme, name=f"k{n}", created_by=world.owner)
        user = UserFactory(username=f"q{n}-{world.acme.slug}")
        Membership.objects.create(user=user, organization=world.acme, role="viewer")
        InvitationFactory(organization=world.acme, invited_by=world.owner, invited_by_name="owner")


def _count(client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


@pytest.mark.parametrize("section", sorted(BUDGETS))
def test_list_pages_have_a_fixed_query_budget(world, login, django_assert_num_queries, section):
    client = login(world.owner)
    path = f"/o/{world.acme.slug}/{section}/" if section else f"/o/{world.acme.slug}/"
    _fill(world, 2, 0)
    client.get(path)  # warm up: the first request of a session writes once more
    few = _count(client, path)
    _fill(world, 10, 2)
    with django_assert_num_queries(BUDGETS[section]):
        many = _count(client, path)
    assert many == few, f"{path}: {few} queries with 2 items, {many} with 12"
