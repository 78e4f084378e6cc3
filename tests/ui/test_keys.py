"""API keys in the UI: create (the raw key shown once), scopes, expiry, revoke, last used."""

from __future__ import annotations

import re

from omni.tenants.models import ApiKey
from omni.tenants.services import authenticate_api_key
from tests.factories import ApiKeyFactory

RAW_KEY = re.compile(r"omni_[a-z0-9]{8}_[A-Za-z0-9_-]{43}")


def test_raw_key_is_shown_once(world, login):
    client = login(world.admin)
    url = f"/o/{world.acme.slug}/keys/"
    response = client.post(
        f"{url}new/", {"name": "cursor", "scopes": ["tools:call", "prompts:read"], "expires_in": "30"}
    )
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    page = response.content.decode()
    raw = RAW_KEY.search(page).group(0)
    key = ApiKey.objects.for_org(world.acme).get(name="cursor")
    assert raw.startswith(key.prefix) and key.created_by == world.admin
    assert sorted(key.scopes) == ["prompts:read", "tools:call"]
    assert key.expires_at is not None
    # The key works for MCP with exactly those scopes.
    ctx = authenticate_api_key(raw)
    assert ctx is not None and ctx.organization == world.acme
    assert ctx.scopes == frozenset({"tools:call", "prompts:read"})
    # The next view shows only the prefix.
    again = client.get(url).content.decode()
    assert key.prefix in again
    assert raw not in again and RAW_KEY.search(again) is None


def test_create_errors_write_nothing(world, login):
    client = login(world.owner)
    url = f"/o/{world.acme.slug}/keys/new/"
    before = ApiKey.objects.for_org(world.acme).count()
    response = client.post(url, {"name": "no-scopes"})
    assert response.status_code == 400 and "Choose at least one scope." in response.content.decode()
    response = client.post(url, {"name": "  ", "scopes": "tools:call"})
    assert response.status_code == 400 and "This field is required." in response.content.decode()
    response = client.post(url, {"name": "bad", "scopes": "admin:everything"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    response = client.post(url, {"name": "bad", "scopes": "tools:call", "expires_in": "-5"})
    assert response.status_code == 400
    assert ApiKey.objects.for_org(world.acme).count() == before


def test_revoke(world, login):
    key, raw = ApiKeyFactory.create_with_raw(organization=world.acme, name="to-revoke")
    assert authenticate_api_key(raw) is not None
    client = login(world.owner)
    response = client.post(f"/o/{world.acme.slug}/keys/{key.pk}/revoke/", HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response["HX-Redirect"] == f"/o/{world.acme.slug}/keys/"
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert authenticate_api_key(raw) is None
    page = client.get(f"/o/{world.acme.slug}/keys/").content.decode()
    assert "revoked" in page and f"Revoked to-revoke ({key.prefix}…)" in page


def test_list_shows_status_scopes_and_last_use(world, login):
    used, raw = ApiKeyFactory.create_with_raw(organization=world.acme, name="used-one", scopes=["tools:call"])
    authenticate_api_key(raw)  # records last_used_at
    ApiKeyFactory(organization=world.globex, name="globex-key")
    page = login(world.viewer).get(f"/o/{world.acme.slug}/keys/").content.decode()
    assert "used-one" in page and "globex-key" not in page
    assert "tools:call" in page and "active" in page
    assert "ago" in page  # last used
    assert "Create a key" not in page and "Revoke" not in page  # viewers read only


def test_empty_state(world, login):
    page = login(world.member).get(f"/o/{world.globex.slug}/keys/").content.decode()
    assert "No API keys yet" in page and "An owner or admin can create one." in page
