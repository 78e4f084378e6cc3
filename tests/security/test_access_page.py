"""The access-rule page ``/o/<slug>/access/``: who may use it, adding, deleting, bad input, escaping."""

from __future__ import annotations

import pytest

from omni.registry.access_models import AccessRule
from omni.tenants.services import create_api_key

XSS = '<script>alert("xss")</script>'


def url(world) -> str:
    return f"/o/{world.org.slug}/access/"


def valid_post(**extra) -> dict:
    return {
        "effect": "deny",
        "kind": "tool",
        "pattern": "utilities__*",
        "subject_type": "role",
        "role": "viewer",
        "priority": "100",
        "description": "",
        **extra,
    }


@pytest.mark.parametrize(
    ("who", "status"), [("owner", 200), ("admin", 200), ("member", 403), ("viewer", 403)]
)
def test_who_may_see_the_page(world, client_as, who, status):
    assert client_as(world.user(who)).get(url(world)).status_code == status


def test_outsiders_get_404_and_anonymous_users_log_in(world, client_as):
    assert client_as(world.user("outsider")).get(url(world)).status_code == 404
    assert client_as(world.user("outsider")).post(url(world), valid_post()).status_code == 404
    response = client_as(None).get(url(world))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_add_then_list_then_delete(world, client_as):
    client = client_as(world.user("admin"))
    response = client.post(url(world), valid_post(description="no utilities for viewers"))
    assert response.status_code == 302
    created = AccessRule.objects.for_org(world.org).get()
    assert (created.effect, created.kind, created.pattern, created.role) == (
        "deny",
        "tool",
        "utilities__*",
        "viewer",
    )
    page = client.get(url(world)).content.decode()
    assert "utilities__*" in page and "no utilities for viewers" in page
    assert client_as(world.user("member")).post(f"{url(world)}{created.uuid}/delete/").status_code == 403
    assert client.post(f"{url(world)}{created.uuid}/delete/").status_code == 302
    assert not AccessRule.objects.for_org(world.org).exists()


def test_a_rule_for_an_api_key(world, client_as):
    key, _ = create_api_key(world.org, "ci")
    client = client_as(world.user("owner"))
    response = client.post(url(world), valid_post(subject_type="api_key", role="", api_key=str(key.pk)))
    assert response.status_code == 302
    assert AccessRule.objects.for_org(world.org).get().api_key == key
    assert key.prefix in client.get(url(world)).content.decode()


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"pattern": "has space"}, "without spaces"),
        ({"pattern": ""}, "This field is required"),
        ({"kind": "server"}, "Select a valid choice"),
        ({"role": ""}, "Choose the role"),
        ({"subject_type": "api_key", "role": ""}, "Choose the API key"),
        ({"priority": "-1"}, "greater than or equal to 0"),
    ],
)
def test_bad_input_is_an_inline_error_and_writes_nothing(world, client_as, change, error):
    response = client_as(world.user("owner")).post(url(world), valid_post(**change))
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not AccessRule.objects.for_org(world.org).exists()


def test_another_organizations_key_is_not_a_choice(world, client_as):
    foreign, _ = create_api_key(world.other, "foreign")
    response = client_as(world.user("owner")).post(
        url(world), valid_post(subject_type="api_key", role="", api_key=str(foreign.pk))
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert foreign.name not in response.content.decode()
    assert not AccessRule.objects.for_org(world.org).exists()


def test_deleting_another_organizations_rule_is_404(world, client_as):
    foreign = AccessRule.objects.create(organization=world.other, role="member", kind="tool", pattern="*")
    response = client_as(world.user("owner")).post(f"{url(world)}{foreign.uuid}/delete/")
    assert response.status_code == 404
    assert AccessRule.objects.filter(pk=foreign.pk).exists()


def test_script_payloads_are_escaped(world, client_as):
    AccessRule.objects.create(
        organization=world.org, role="member", kind="tool", pattern="x", description=XSS
    )
    create_api_key(world.org, XSS)
    page = client_as(world.user("owner")).get(url(world)).content.decode()
    assert XSS not in page
    assert "&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;" in page
