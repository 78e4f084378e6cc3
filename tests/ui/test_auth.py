"""Logging in and out, the / redirect, and the organization switcher."""

from __future__ import annotations

from django.test import Client

from tests.factories import TEST_PASSWORD, MembershipFactory, OrganizationFactory, UserFactory


def test_login_page_and_login(world):
    client = Client()
    page = client.get("/login/")
    assert page.status_code == 200 and 'name="password"' in page.content.decode()
    response = client.post("/login/", {"username": world.owner.username, "password": TEST_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 302 and home["Location"] == f"/o/{world.acme.slug}/"


def test_wrong_password_is_an_inline_error(world):
    response = Client().post("/login/", {"username": world.owner.username, "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_login_returns_to_next(world):
    client = Client()
    target = f"/o/{world.acme.slug}/prompts/"
    assert client.get(target)["Location"] == f"/login/?next={target}"
    response = client.post(
        "/login/?next=" + target,
        {"username": world.viewer.username, "password": TEST_PASSWORD, "next": target},
    )
    assert response["Location"] == target


def test_logout_is_a_post(world, login):
    client = login(world.owner)
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert client.get(f"/o/{world.acme.slug}/")["Location"].startswith("/login/")


def test_anonymous_home_goes_to_login(db):
    assert Client().get("/")["Location"] == "/login/?next=/"


def test_user_without_organization(world, login):
    page = login(world.outsider).get("/")
    assert page.status_code == 200 and "not a member of any organization" in page.content.decode()


def test_switcher_lists_only_the_users_organizations(world, login):
    third = OrganizationFactory(slug=f"third-{world.acme.slug}", name="Third Org")
    MembershipFactory(user=world.owner, organization=third, role="viewer")
    stranger = UserFactory(username=f"stranger-{world.acme.slug}")
    MembershipFactory(user=stranger, organization=world.globex, role="owner")
    page = login(world.owner).get(f"/o/{world.acme.slug}/prompts/").content.decode()
    switcher = page.split('data-testid="org-switcher"')[1].split("</details>")[0]
    assert f'href="/o/{world.acme.slug}/prompts/"' in switcher  # keeps the section
    assert f'href="/o/{third.slug}/prompts/"' in switcher
    assert world.globex.slug not in switcher
    # The nav links to every page of the organization.
    for section in [
        "servers",
        "prompts",
        "resources",
        "members",
        "keys",
        "playground",
        "history",
        "analytics",
        "scenarios",
        "audit",
        "access",
    ]:
        assert f'href="/o/{world.acme.slug}/{section}/"' in page, section
    assert "role-owner" in page


def test_dashboard_counts(world, login):
    page = login(world.viewer).get(f"/o/{world.acme.slug}/").content.decode()
    assert "Acme" in page and "Members" in page and "/mcp" in page


def test_repeated_failures_lock_the_login_page(world, settings):
    """/login/ is the lockout-aware view: after the failures allowed, even the right password is
    refused with 429 and the reason next to the form."""
    settings.LOGIN_LOCKOUT_FAILURES = 2
    client = Client()
    for _ in range(2):
        client.post("/login/", {"username": world.viewer.username, "password": "wrong"})
    response = client.post("/login/", {"username": world.viewer.username, "password": TEST_PASSWORD})
    assert response.status_code == 429 and response.has_header("Retry-After")
    assert 'class="form-errors"' in response.content.decode()
    assert "_auth_user_id" not in client.session
