"""Envelope encryption: the ciphertext format, the fields, loud errors, rotation and shredding."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.exceptions import FieldError
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import override_settings

from mcp_servers.models import Dataset
from omni.audit.models import AuditEvent
from omni.playground.models import TestRun
from omni.privacy.crypto import envelope, keys
from omni.privacy.crypto.errors import DataKeyDestroyed, DecryptionError, MasterKeyError
from omni.privacy.crypto.fields import is_erased
from omni.privacy.crypto.services import destroy_org_key, master_key_report
from omni.privacy.models import DataKey
from omni.tenants.models import Invitation
from tests.factories import DatasetFactory, InvitationFactory, OrganizationFactory, TestRunFactory

pytestmark = pytest.mark.django_db

SENTINEL = "sentinel-7f3a9c"


@pytest.fixture(autouse=True)
def _fresh_cache():
    keys.forget_all()
    yield
    keys.forget_all()


def raw(table: str, column: str, pk) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{column}" FROM "{table}" WHERE id = %s', [pk])  # noqa: S608
        return cursor.fetchone()[0]


def test_sealed_value_names_its_version_and_key_and_opens_without_context():
    org = OrganizationFactory()
    token = envelope.seal(b"hello", org.pk)
    key = DataKey.objects.get(organization=org, destroyed_at__isnull=True)
    assert token.startswith(f"omnienc:1:{key.key_id}:")
    keys.forget_all()  # nothing cached: the header alone finds the key
    assert envelope.open_token(token) == b"hello"


def test_each_organization_has_its_own_key():
    a, b = OrganizationFactory(), OrganizationFactory()
    assert envelope.key_id_of(envelope.seal(b"x", a.pk)) != envelope.key_id_of(envelope.seal(b"x", b.pk))
    assert DataKey.objects.filter(organization__in=[a, b]).count() == 2
    # The wrapped key is not the key: it is 12 (nonce) + 32 (key) + 16 (tag) bytes.
    assert all(len(bytes(k.wrapped_key)) == 60 for k in DataKey.objects.filter(organization__in=[a, b]))


def test_tampered_ciphertext_is_an_error_not_data():
    org = OrganizationFactory()
    token = envelope.seal(b"secret value", org.pk)
    header, body = token.rsplit(":", 1)
    data = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data[-1] ^= 1
    tampered = header + ":" + base64.urlsafe_b64encode(bytes(data)).decode().rstrip("=")
    with pytest.raises(DecryptionError, match="failed authentication"):
        envelope.open_token(tampered)
    other = OrganizationFactory()
    other_key = envelope.key_id_of(envelope.seal(b"x", other.pk))
    swapped = token.replace(envelope.key_id_of(token), other_key, 1)  # header is authenticated
    with pytest.raises(DecryptionError):
        envelope.open_token(swapped)


def test_fields_store_ciphertext_and_read_plaintext():
    run = TestRunFactory(request={"params": {"arguments": {"text": SENTINEL}}}, response={"echo": SENTINEL})
    stored = raw("playground_testrun", "request", run.pk)
    assert stored.startswith("omnienc:1:") and SENTINEL not in stored
    assert SENTINEL not in raw("playground_testrun", "response", run.pk)
    again = TestRun.objects.get(pk=run.pk)
    assert again.request["params"]["arguments"]["text"] == SENTINEL
    assert again.response == {"echo": SENTINEL}

    invitation = InvitationFactory(email=f"{SENTINEL}@example.org")
    assert SENTINEL not in raw("tenants_invitation", "email", invitation.pk)
    assert Invitation.objects.get(pk=invitation.pk).email == f"{SENTINEL}@example.org"

    dataset = DatasetFactory(org_slug=invitation.organization.slug, rows=[[SENTINEL, 1, 2]])
    assert SENTINEL not in raw("mcp_servers_dataset", "rows", dataset.pk)
    assert Dataset.objects.get(pk=dataset.pk).rows == [[SENTINEL, 1, 2]]
    # Encrypted with the key of the organization the slug names.
    org_key = DataKey.objects.get(organization=invitation.organization).key_id
    assert envelope.key_id_of(raw("mcp_servers_dataset", "rows", dataset.pk)) == org_key


def test_dataset_of_an_unknown_slug_uses_the_platform_key():
    dataset = DatasetFactory(org_slug="no-such-org-anywhere", rows=[[SENTINEL, 1, 2]])
    platform = DataKey.objects.get(organization__isnull=True, destroyed_at__isnull=True).key_id
    assert envelope.key_id_of(raw("mcp_servers_dataset", "rows", dataset.pk)) == platform
    assert Dataset.objects.get(pk=dataset.pk).rows == [[SENTINEL, 1, 2]]


def test_encrypted_fields_refuse_filters_and_bulk_updates():
    run = TestRunFactory()
    with pytest.raises(FieldError, match="encrypted and cannot be filtered"):
        list(TestRun.objects.filter(request__params__name="x"))
    with pytest.raises(FieldError, match="encrypted and cannot be filtered"):
        list(TestRun.objects.filter(response={"a": 1}))
    with pytest.raises(FieldError, match="through save"), transaction.atomic():
        TestRun.objects.filter(pk=run.pk).update(request={"a": 1})
    assert TestRun.objects.filter(response__isnull=False, pk=run.pk).count() == 1


def test_plaintext_left_in_an_encrypted_column_is_a_loud_error():
    run = TestRunFactory()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE playground_testrun SET request = %s WHERE id = %s", ['{"plain": true}', run.pk]
        )
    with pytest.raises(DecryptionError, match="not encrypted"):
        TestRun.objects.get(pk=run.pk)


def test_invitation_lookup_by_blind_index():
    invitation = InvitationFactory(email="Someone@Example.org")
    assert len(invitation.email_hash) == 64 and "someone" not in invitation.email_hash
    from omni.privacy.crypto.fields import blind_index

    org_id = invitation.organization_id
    assert (
        Invitation.objects.filter(email_hash=blind_index(org_id, "someone@example.org")).get() == invitation
    )
    # Another organization's index of the same address differs (per-organization key).
    other = OrganizationFactory()
    assert blind_index(other.pk, "someone@example.org") != invitation.email_hash


def test_wrong_master_key_is_a_loud_error():
    run = TestRunFactory(request={"x": SENTINEL})
    wrong = keys.new_master_key()
    keys.forget_all()
    with override_settings(PRIVACY_MASTER_KEYS=[wrong]):
        with pytest.raises(MasterKeyError, match="no key in PRIVACY_MASTER_KEYS"):
            TestRun.objects.get(pk=run.pk)
    keys.forget_all()
    assert TestRun.objects.get(pk=run.pk).request == {"x": SENTINEL}


def test_missing_master_key_configuration_is_refused():
    from django.core.exceptions import ImproperlyConfigured

    keys.forget_all()
    with override_settings(PRIVACY_MASTER_KEYS=["c2hvcnQ"]):
        with pytest.raises(ImproperlyConfigured, match="32 bytes"):
            envelope.seal(b"x", None)
    with override_settings(PRIVACY_MASTER_KEYS=[]):
        with pytest.raises(ImproperlyConfigured, match="empty"):
            envelope.seal(b"x", None)


def test_rotation_rewraps_every_key_and_the_old_one_can_be_retired(
    settings, django_capture_on_commit_callbacks
):
    old = list(settings.PRIVACY_MASTER_KEYS)
    runs = [TestRunFactory(request={"n": i, "s": SENTINEL}) for i in range(3)]
    old_id = keys.master_keys()[0].id
    new = keys.new_master_key()
    settings.PRIVACY_MASTER_KEYS = [new, *old]
    keys.forget_all()
    new_id = keys.master_keys()[0].id
    # Before rotation: readable with both keys configured, and the old key still has dependants.
    assert [TestRun.objects.get(pk=r.pk).request["n"] for r in runs] == [0, 1, 2]
    with pytest.raises(CommandError, match="still depend"):
        call_command("rotate_field_key", "--check", old_id)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("rotate_field_key")
    assert keys.dependents(old_id) == 0
    assert DataKey.objects.filter(destroyed_at__isnull=True).exclude(master_key_id=new_id).count() == 0
    call_command("rotate_field_key", "--check", old_id)  # no error: it can be retired
    settings.PRIVACY_MASTER_KEYS = [new]  # retired
    keys.forget_all()
    assert [TestRun.objects.get(pk=r.pk).request["n"] for r in runs] == [0, 1, 2]
    assert all(u.data_keys == 0 for u in master_key_report() if u.master_key_id == old_id)
    assert AuditEvent.objects.filter(action="privacy.key_rotated").exists()
    # Running it again re-wraps nothing.
    assert keys.rewrap_all()["rewrapped"] == 0


def test_rotation_refuses_when_a_data_key_cannot_be_unwrapped(settings):
    TestRunFactory()
    settings.PRIVACY_MASTER_KEYS = [keys.new_master_key()]  # the old key dropped too early
    keys.forget_all()
    with pytest.raises(CommandError, match="no key in PRIVACY_MASTER_KEYS"):
        call_command("rotate_field_key")


def test_destroying_an_org_key_erases_its_rows_only(django_capture_on_commit_callbacks):
    run = TestRunFactory(request={"s": SENTINEL})
    other = TestRunFactory(request={"s": "other org"})
    invitation = InvitationFactory(organization=run.organization, email="x@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        destroyed = destroy_org_key(run.organization)
    assert destroyed and DataKey.objects.get(key_id=destroyed[0]).wrapped_key == b""
    again = TestRun.objects.get(pk=run.pk)  # the row loads (lists keep working) ...
    assert is_erased(again, "request")
    with pytest.raises(DataKeyDestroyed, match="destroyed"):
        _ = again.request  # ... reading the value is the clear error
    assert again.operation == "tools/call"  # plaintext fields are untouched
    with pytest.raises(DataKeyDestroyed):
        _ = Invitation.objects.get(pk=invitation.pk).email
    assert TestRun.objects.get(pk=other.pk).request == {"s": "other org"}
    event = AuditEvent.objects.filter(action="privacy.key_destroyed", organization=run.organization).get()
    assert event.data["key_ids"] == destroyed
    # Saving an erased row keeps it erased; a new run of the organization gets a new key.
    again.outcome = TestRun.Outcome.ERROR
    again.save()
    assert is_erased(TestRun.objects.get(pk=run.pk), "request")
    fresh = TestRunFactory(organization=run.organization, request={"new": 1})
    assert TestRun.objects.get(pk=fresh.pk).request == {"new": 1}
    assert envelope.key_id_of(raw("playground_testrun", "request", fresh.pk)) not in destroyed


def test_destroy_command_needs_confirmation_and_an_existing_org():
    run = TestRunFactory()
    with pytest.raises(CommandError, match="--yes"):
        call_command("destroy_org_key", "--org", run.organization.slug)
    with pytest.raises(CommandError, match="No organization"):
        call_command("destroy_org_key", "--org", "nope-nope", "--yes")
    assert TestRun.objects.get(pk=run.pk).request  # still readable
    call_command("destroy_org_key", "--org", run.organization.slug, "--yes")
    with pytest.raises(DataKeyDestroyed):
        _ = TestRun.objects.get(pk=run.pk).request


def test_another_process_stops_decrypting_after_the_cache_age(settings):
    run = TestRunFactory(request={"s": 1})
    assert TestRun.objects.get(pk=run.pk).request == {"s": 1}  # key now cached
    # Destroy the key behind this process's back (as another process would).
    DataKey.objects.filter(organization=run.organization).update(
        wrapped_key=b"", destroyed_at="2026-01-01T00:00Z"
    )
    assert TestRun.objects.get(pk=run.pk).request == {"s": 1}  # still cached
    settings.PRIVACY_KEY_CACHE_SECONDS = 0
    with pytest.raises(DataKeyDestroyed):
        _ = TestRun.objects.get(pk=run.pk).request


def test_key_cache_is_bounded(settings):
    settings.PRIVACY_KEY_CACHE_SIZE = 3
    orgs = [OrganizationFactory() for _ in range(6)]
    tokens = [envelope.seal(json.dumps(i).encode(), org.pk) for i, org in enumerate(orgs)]
    assert len(keys.cache) == 3
    assert [json.loads(envelope.open_token(t)) for t in tokens] == list(range(6))  # evicted ones reload
    assert len(keys.cache) == 3


def test_audit_arguments_on_an_event_loop_never_query_the_key_table():
    import asyncio

    from omni.audit import sealing
    from omni.privacy.crypto.audit import PENDING, seal_arguments

    org = OrganizationFactory()
    arguments = {"password": "hunter2", "q": SENTINEL}

    async def on_loop():  # a query here would raise SynchronousOnlyOperation
        return seal_arguments(arguments, org)

    pending = asyncio.run(on_loop())  # no key cached: left for the writer, already masked
    assert pending == {PENDING: org.pk, "value": {"password": "[redacted:secret]", "q": SENTINEL}}
    finished = sealing.finish({"data": {"tool": "t", "arguments": pending}})
    sealed = finished["data"]["arguments"]
    assert sealed.startswith("omnienc:1:") and SENTINEL not in sealed
    assert sealing.open_value(sealed) == {"password": "[redacted:secret]", "q": SENTINEL}
    # Now the key is cached in this process: on the loop the arguments are sealed at once.
    again = asyncio.run(on_loop())
    assert again.startswith("omnienc:1:") and sealing.open_value(again)["q"] == SENTINEL
