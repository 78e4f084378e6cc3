"""The encryption page and the masking switch (roles, tenancy, audit), redaction in stored runs, and
what the UI shows for data that cannot be decrypted."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from omni.audit.models import AuditEvent
from omni.playground.models import TestRun
from omni.playground.services import run_and_record
from omni.privacy.crypto import keys
from omni.privacy.crypto.services import destroy_org_key
from omni.tenants.context import OrgContext
from omni.tenants.models import Role
from omni.tenants.services import add_member
from tests.factories import OrganizationFactory, TestRunFactory, UserFactory

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def world():
    org, other = OrganizationFactory(), OrganizationFactory()
    users = {role: UserFactory() for role in ("owner", "member", "outsider")}
    add_member(org, users["owner"], Role.OWNER)
    add_member(org, users["member"], Role.MEMBER)
    add_member(other, users["outsider"], Role.OWNER)
    return org, users


def test_encryption_page_by_role(world):
    org, users = world
    TestRunFactory(organization=org)  # creates the organization's key
    page = _client(users["owner"]).get(f"/o/{org.slug}/privacy/encryption/")
    assert page.status_code == 200
    assert org.data_keys.get().key_id.encode() in page.content
    assert b"wrapped_key" not in page.content
    assert _client(users["member"]).get(f"/o/{org.slug}/privacy/encryption/").status_code == 403
    assert _client(users["outsider"]).get(f"/o/{org.slug}/privacy/encryption/").status_code == 404


def test_masking_switch_is_audited_and_masks_personal_data_in_new_runs(
    world, django_capture_on_commit_callbacks
):
    org, users = world
    url = f"/o/{org.slug}/privacy/encryption/masking/"
    assert _client(users["member"]).post(url, {"enabled": "on"}).status_code == 403
    assert _client(users["outsider"]).post(url, {"enabled": "on"}).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        assert _client(users["owner"]).post(url, {"enabled": "on"}).status_code == 302
    org.refresh_from_db()
    assert org.settings["privacy_mask_personal_data"] is True
    event = AuditEvent.objects.filter(organization=org, action="org.settings_change").latest("seq")
    assert event.data == {"setting": "privacy_mask_personal_data", "before": False, "after": True}


def test_a_stored_run_is_masked(db):
    from tests.gateway.world import make_tenant

    tenant = make_tenant("mask", servers=("utilities",))
    owner = UserFactory()
    add_member(tenant.org, owner, Role.OWNER)
    from omni.tenants.services import resolve_user_context

    ctx: OrgContext = resolve_user_context(owner, tenant.org.slug)
    text = "mail ada@example.org with Bearer abcdefghijkl12345"
    params = {"name": "utilities__text_stats", "arguments": {"text": text}}
    run, _ = run_and_record(ctx, "tools/call", params, user=owner, source="playground")
    stored = TestRun.objects.get(pk=run.pk).request["params"]["arguments"]["text"]
    assert stored == "mail ada@example.org with Bearer [redacted:token]"  # secrets always
    tenant.org.settings = {**tenant.org.settings, "privacy_mask_personal_data": True}
    tenant.org.save()
    ctx = resolve_user_context(owner, tenant.org.slug)
    run, result = run_and_record(ctx, "tools/call", params, user=owner, source="playground")
    stored = TestRun.objects.get(pk=run.pk).request["params"]["arguments"]["text"]
    assert stored == "mail [redacted:email] with Bearer [redacted:token]"  # and personal data when asked
    assert "ada" in str(result.request)  # what was sent was not changed, only what is stored


def test_erased_and_undecryptable_runs_in_the_ui(world):
    org, users = world
    run = TestRunFactory(organization=org, username=users["owner"].username)
    client = _client(users["owner"])
    assert client.get(f"/o/{org.slug}/history/{run.public_id}/").status_code == 200
    keys.forget_all()
    with override_settings(PRIVACY_MASTER_KEYS=[keys.new_master_key()]):
        page = client.get(f"/o/{org.slug}/history/{run.public_id}/")
        assert page.status_code == 500 and b"cannot be decrypted" in page.content
        assert b"PRIVACY_MASTER_KEYS" in page.content and b"omnienc:" not in page.content
        api = client.get(f"/o/{org.slug}/history/{run.public_id}/", HTTP_ACCEPT="application/json")
        assert api.status_code == 500 and api.json()["error"] == "decryption_failed"
    keys.forget_all()
    destroy_org_key(org)
    page = client.get(f"/o/{org.slug}/history/{run.public_id}/")
    assert page.status_code == 410 and b"[erased]" in page.content and b"omnienc:" not in page.content
