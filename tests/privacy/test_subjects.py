"""Data-subject rights against PostgreSQL: exports hold exactly the subject's data, links work once
and expire, erasure keeps the audit chain verifiable, the last-owner rule, organization deletion."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone

from mcp_servers.models import Dataset, Note
from omni.audit.chain import ERASED
from omni.audit.models import AuditEvent
from omni.monitoring.models.alerts import NotificationChannel
from omni.playground.models import TestRun
from omni.privacy.models import DataSubjectRequest, OrgRetention
from omni.privacy.retention.policy import set_legal_hold
from omni.privacy.signals import organization_erased
from omni.privacy.subjects import services
from omni.privacy.subjects.erasure import LastOwnerError, erase_user
from omni.privacy.subjects.tasks import process_due_requests
from omni.registry.models import ServerConnection
from omni.tenants.models import ApiKey, Invitation, Membership, Role
from omni.tenants.services import add_member
from tests.privacy.conftest import load, run_command, unzip, verify_chain

User = get_user_model()


def _client(user, ip: str = "192.0.2.9") -> Client:
    client = Client(REMOTE_ADDR=ip)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


# --------------------------------------------------------------------------- exports
def test_user_export_holds_exactly_their_data(people, tmp_path):
    out = tmp_path / "alice.zip"
    printed = run_command("export_user_data", "--user", people.alice.username, "--out", str(out))
    assert f"user #{people.alice.pk}" in printed
    files = unzip(out.read_bytes())
    assert set(files) == {
        "README.txt", "profile.json", "memberships.json", "api_keys.json", "audit_events.json",
        "test_runs.json", "scenario_runs.json", "invitations.json", "requests.json",
    }  # fmt: skip
    for name in files:
        if name != "README.txt":
            assert name in files["README.txt"].decode()
    assert load(files, "profile.json")["username"] == people.alice.username
    assert load(files, "profile.json")["email"] == people.alice.email
    assert [m["organization"] for m in load(files, "memberships.json")] == [people.org_a.slug]
    keys = load(files, "api_keys.json")
    assert [k["prefix"] for k in keys] == [people.alice_key.prefix]
    events = load(files, "audit_events.json")
    actions = {e["action"] for e in events}
    assert {"auth.login", "test.subject_action", "apikey.create"} <= actions
    assert people.alice_ip in {e["ip"] for e in events}
    assert [r["target"] for r in load(files, "test_runs.json")] == ["alice_tool"]
    assert [r["name"] for r in load(files, "scenario_runs.json")] == ["alice_sc"]
    invitations = load(files, "invitations.json")
    assert len(invitations["sent"]) == 1 and "email" not in invitations["sent"][0]
    assert [i["email"] for i in invitations["received"]] == [people.alice.email]
    # Nothing of the other person, the other organization, or any secret.
    blob = b"\n".join(files.values()).decode()
    for foreign in (
        people.bob.username, people.bob.email, people.bob_ip, people.bob_key.prefix, people.org_b.slug,
        people.carol_email, "bob_tool", "note of org",
        people.alice.password, people.alice_key.key_hash,
    ):  # fmt: skip
        assert foreign not in blob, foreign
    assert "key_hash" not in blob and "password" not in blob.replace("password hash", "")
    # The command's export is in the register.
    assert DataSubjectRequest.objects.filter(
        user=people.alice, kind="export", via="command", state="done"
    ).exists()
    with pytest.raises(CommandError, match="exists"):
        run_command("export_user_data", "--user", people.alice.username, "--out", str(out))
    with pytest.raises(CommandError, match="no user"):
        run_command("export_user_data", "--user", "nobody-at-all", "--out", str(tmp_path / "x.zip"))


def test_org_export_holds_the_organization_and_no_credentials(people, tmp_path):
    ServerConnection.objects.create(
        organization=people.org_a, name="remote", transport="streamable_http", url="https://mcp.example.com/mcp",
        credential="s3cret-credential-of-a", env={"TOKEN": "env-secret-of-a"},
    )  # fmt: skip
    ServerConnection.objects.create(
        organization=people.org_b, name="other", transport="inprocess", target="utilities"
    )
    out = tmp_path / "org.zip"
    run_command("export_org_data", "--org", people.org_a.slug, "--out", str(out))
    files = unzip(out.read_bytes())
    assert {"README.txt", "organization.json", "members.json", "audit_log.json"} <= set(files)
    assert load(files, "organization.json")["slug"] == people.org_a.slug
    assert {m["username"] for m in load(files, "members.json")} == {
        people.alice.username,
        people.bob.username,
    }
    assert [n["title"] for n in load(files, "tables/mcp_servers.note.json")] == ["note of org a"]
    assert [d["name"] for d in load(files, "tables/mcp_servers.dataset.json")] == ["dataset_a"]
    assert {r["target"] for r in load(files, "tables/playground.testrun.json")} == {"alice_tool", "bob_tool"}
    servers = load(files, "tables/registry.serverconnection.json")
    assert [s["name"] for s in servers] == ["remote"] and "credential" not in servers[0]
    audit = load(files, "audit_log.json")
    assert audit and all(e["org_slug"] == people.org_a.slug for e in audit) and "hash" in audit[0]
    blob = b"\n".join(files.values()).decode()
    for foreign in (
        people.org_b.slug, "note of org b", "dataset_b", people.bob_key.prefix, "s3cret-credential-of-a",
        "env-secret-of-a", people.alice_key.key_hash, people.bob.email,
    ):  # fmt: skip
        assert foreign not in blob, foreign


def test_export_link_works_once_for_its_requester_and_expires(people, django_capture_on_commit_callbacks):
    client = _client(people.alice)
    with django_capture_on_commit_callbacks(execute=True):  # the task is queued after commit
        assert client.post("/account/export/").status_code == 302
    dsr = DataSubjectRequest.objects.get(user=people.alice, kind="export", via="ui")
    assert dsr.state == "ready" and dsr.archive_bytes > 0 and dsr.link_expires_at > timezone.now()
    # The zip waits encrypted (a person's export: the platform key), never as plain bytes.
    with connection.cursor() as cursor:
        cursor.execute("SELECT archive FROM privacy_datasubjectrequest WHERE id = %s", [dsr.pk])
        (stored,) = cursor.fetchone()
    assert stored.startswith("omnienc:1:") and "profile.json" not in stored
    assert bytes(dsr.archive).startswith(b"PK") and len(dsr.archive) == dsr.archive_bytes
    client.post("/account/export/")  # a second click while one is ready builds nothing more
    assert DataSubjectRequest.objects.filter(user=people.alice, kind="export", via="ui").count() == 1
    page = client.get("/account/").content.decode()
    token = services.download_token(dsr)
    assert f"/account/download/{token}/" in page
    # Somebody else (even with the link) gets nothing, and that does not use the link up.
    assert _client(people.bob).get(f"/account/download/{token}/").status_code == 410
    with django_capture_on_commit_callbacks(execute=True):
        got = client.get(f"/account/download/{token}/")
    assert got.status_code == 200 and got["Content-Type"] == "application/zip"
    assert "profile.json" in unzip(got.content)
    again = client.get(f"/account/download/{token}/")
    assert again.status_code == 410 and "already been used" in again.content.decode()
    dsr.refresh_from_db()
    assert dsr.state == "done" and dsr.archive is None and dsr.downloaded_at is not None
    assert (
        AuditEvent.objects.filter(action="privacy.export_downloaded", actor_id=str(people.alice.pk)).count()
        == 1
    )
    assert (
        AuditEvent.objects.filter(action="privacy.export_requested", actor_id=str(people.alice.pk)).count()
        == 1
    )
    # An expired link: refused, and the archive is dropped.
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/account/export/")
    late = DataSubjectRequest.objects.filter(user=people.alice, kind="export", state="ready").get()
    DataSubjectRequest.objects.filter(pk=late.pk).update(
        link_expires_at=timezone.now() - timedelta(seconds=1)
    )
    late.refresh_from_db()
    response = client.get(f"/account/download/{services.download_token(late)}/")
    assert response.status_code == 410 and "expired" in response.content.decode()
    late.refresh_from_db()
    assert late.state == "expired" and late.archive is None
    assert client.get("/account/download/not-a-token/").status_code == 410


# --------------------------------------------------------------------------- erasure
def test_erasure_erases_the_person_and_the_chain_still_verifies(people, django_capture_on_commit_callbacks):
    status, out = verify_chain()
    assert status == 0, out
    pk, name, email = people.bob.pk, people.bob.username, people.bob.email
    add_member(people.org_b, people.alice, Role.OWNER)  # bob is no longer the last owner of org_b
    bob_events = list(
        AuditEvent.objects.filter(actor_type="user", actor_id=str(pk)).values_list("pk", flat=True)
    )
    assert bob_events
    # His address in alert channels (encrypted, so not found by SQL) and his name on a legal hold.
    shared = NotificationChannel.objects.create(
        organization=people.org_b, name="team", kind="email", emails=[email.upper(), "team@example.org"]
    )
    only_bob = NotificationChannel.objects.create(
        organization=people.org_b, name="bob only", kind="email", emails=[email]
    )
    set_legal_hold(people.org_b, True, reason="audit", actor=people.bob)
    with django_capture_on_commit_callbacks(execute=True):
        erase_user(people.bob)
    shared.refresh_from_db()
    only_bob.refresh_from_db()
    assert shared.emails == ["team@example.org"] and shared.enabled
    assert only_bob.emails == [] and not only_bob.enabled
    hold = OrgRetention.objects.get(organization=people.org_b)
    assert hold.legal_hold and hold.legal_hold_by == ""
    assert not User.objects.filter(pk=pk).exists()
    assert not Membership.objects.filter(user_id=pk).exists()
    assert not ApiKey.objects.filter(pk=people.bob_key.pk).exists()
    assert not TestRun.objects.filter(username=name).exists()
    assert TestRun.objects.filter(target="bob_tool", user=None, username="").exists()  # the org's run stays
    assert not Invitation.objects.filter(invited_by_name=name).exists()
    # His events keep their place and hash, without him.
    for event in AuditEvent.objects.filter(pk__in=bob_events):
        assert event.actor_name == ERASED["actor_name"] and event.ip == ""
        assert "actor_name" not in event.personal_salts and "actor_name" in event.personal
    for field in ("actor_name", "target_repr", "target_id", "ip"):
        assert not AuditEvent.objects.filter(**{f"{field}__icontains": name}).exists()
        assert not AuditEvent.objects.filter(**{f"{field}__icontains": email}).exists()
        assert not AuditEvent.objects.filter(**{field: people.bob_ip}).exists()
    assert AuditEvent.objects.filter(action="privacy.erasure_done", target_id=str(pk)).count() == 1
    status, out = verify_chain()
    assert status == 0, out
    # Alice's events are untouched.
    assert AuditEvent.objects.filter(actor_name=people.alice.username, ip=people.alice_ip).exists()


def test_the_trigger_allows_only_erasure_and_verify_catches_a_forged_erased_field(people):
    event = AuditEvent.objects.filter(actor_type="user", actor_id=str(people.alice.pk)).first()
    for sql in (
        "UPDATE audit_auditevent SET actor_name = 'mallory' WHERE id = %s",
        "UPDATE audit_auditevent SET actor_name = '[erased]' WHERE id = %s",  # keeps its salt: refused
        "UPDATE audit_auditevent SET action = 'x.y', personal_salts = '{}' WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, [event.pk])
    # Erased in place (the allowed update), then forged with the trigger disabled: detected.
    AuditEvent.objects.filter(pk=event.pk).erase_fields(
        actor_name=ERASED["actor_name"],
        personal_salts={k: v for k, v in event.personal_salts.items() if k != "actor_name"},
    )
    status, out = verify_chain()
    assert status == 0, out
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses pending FK checks
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute("UPDATE audit_auditevent SET actor_name = 'someone' WHERE id = %s", [event.pk])
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
    status, out = verify_chain()
    assert status == 1 and f"seq {event.seq} [edited]" in out and "actor_name" in out


def test_the_last_owner_cannot_be_erased_until_ownership_moves(people, django_capture_on_commit_callbacks):
    with pytest.raises(LastOwnerError, match=people.org_a.slug):
        erase_user(people.alice)
    with pytest.raises(CommandError, match=f"last owner of {people.org_a.slug}"):
        run_command("erase_user", "--user", people.alice.username, "--yes")
    assert User.objects.filter(pk=people.alice.pk).exists()
    client = _client(people.alice)
    assert "last owner of" in client.get("/account/").content.decode()
    response = client.post("/account/erase/", {"password": people.password}, follow=True)
    assert "last owner of" in response.content.decode()
    assert not DataSubjectRequest.objects.filter(user=people.alice, kind="erasure").exists()
    with pytest.raises(CommandError, match="--yes"):
        run_command("erase_user", "--user", people.alice.username)
    add_member(people.org_a, people.bob, Role.OWNER)
    with django_capture_on_commit_callbacks(execute=True):
        printed = run_command("erase_user", "--user", people.alice.username, "--yes")
    assert f"Erased user #{people.alice.pk}" in printed
    assert not User.objects.filter(pk=people.alice.pk).exists()
    status, out = verify_chain()
    assert status == 0, out


def test_erasure_waits_for_its_grace_period_and_can_be_cancelled(
    people, settings, django_capture_on_commit_callbacks
):
    add_member(people.org_b, people.alice, Role.OWNER)
    client = _client(people.bob, ip=people.bob_ip)
    wrong = client.post("/account/erase/", {"password": "not-his"}, follow=True)
    assert "password is not correct" in wrong.content.decode()
    assert not DataSubjectRequest.objects.filter(user=people.bob, kind="erasure").exists()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/account/erase/", {"password": people.password})
    dsr = DataSubjectRequest.objects.get(user=people.bob, kind="erasure")
    assert dsr.state == "pending"
    assert dsr.scheduled_for - timezone.now() > timedelta(hours=settings.DSR_ERASURE_GRACE_HOURS - 1)
    assert dsr.due_at - dsr.requested_at == timedelta(days=30)
    assert process_due_requests.apply().get()["erasures"] == 0
    assert User.objects.filter(pk=people.bob.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/account/requests/{dsr.public_id}/cancel/")
    dsr.refresh_from_db()
    assert dsr.state == "cancelled"
    # Asked again, and the grace period is over: the task carries it out.
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/account/erase/", {"password": people.password})
    again = DataSubjectRequest.objects.get(user=people.bob, kind="erasure", state="pending")
    DataSubjectRequest.objects.filter(pk=again.pk).update(scheduled_for=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert process_due_requests.apply().get()["erasures"] == 1
    again.refresh_from_db()
    assert again.state == "done" and again.user_id is None and again.subject_label == f"user #{people.bob.pk}"
    assert not User.objects.filter(pk=people.bob.pk).exists()
    # His browser session is dead.
    assert client.get("/account/").status_code == 302
    actions = list(
        AuditEvent.objects.filter(action__startswith="privacy.erasure", target_id=str(people.bob.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    )
    requested, done = "privacy.erasure_requested", "privacy.erasure_done"
    assert actions == [requested, "privacy.erasure_cancelled", requested, done]
    status, out = verify_chain()
    assert status == 0, out


# --------------------------------------------------------------------------- organizations
def test_org_requests_page_is_for_owners(people):
    url = f"/o/{people.org_a.slug}/privacy/requests/"
    assert _client(people.alice).get(url).status_code == 200
    assert _client(people.bob).get(url).status_code == 403  # admin of org_a
    assert _client(people.bob).post(f"/o/{people.org_a.slug}/privacy/requests/delete/").status_code == 403
    assert _client(people.alice).get(f"/o/{people.org_b.slug}/privacy/requests/").status_code == 404


def test_org_deletion_after_its_grace_period_removes_every_row(people, django_capture_on_commit_callbacks):
    org, slug, org_id = people.org_b, people.org_b.slug, people.org_b.pk
    received = []

    def on_erased(sender, organization_id, slug, **kwargs):
        received.append((organization_id, slug))

    organization_erased.connect(on_erased, dispatch_uid="test-pdsr")
    try:
        client = _client(people.bob)
        url = f"/o/{slug}/privacy/requests/"
        client.post(url + "delete/", {"confirm_slug": "wrong"})
        assert not DataSubjectRequest.objects.filter(organization=org, kind="erasure").exists()
        with django_capture_on_commit_callbacks(execute=True):
            client.post(url + "delete/", {"confirm_slug": slug})
        dsr = DataSubjectRequest.objects.get(organization=org, kind="erasure", state="pending")
        assert "will be deleted on" in client.get(url).content.decode()
        DataSubjectRequest.objects.filter(pk=dsr.pk).update(
            scheduled_for=timezone.now() - timedelta(seconds=1)
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert process_due_requests.apply().get()["erasures"] == 1
    finally:
        organization_erased.disconnect(dispatch_uid="test-pdsr")
    assert received == [(org_id, slug)]
    dsr.refresh_from_db()
    assert dsr.state == "done" and dsr.organization_id is None and dsr.subject_label == f"org {slug}"
    assert (
        not Note.objects.filter(org_slug=slug).exists() and not Dataset.objects.filter(org_slug=slug).exists()
    )
    assert not ApiKey.objects.filter(organization_id=org_id).exists()
    assert not Membership.objects.filter(organization_id=org_id).exists()
    # org_a is untouched.
    assert Note.objects.filter(org_slug=people.org_a.slug).exists()
    assert AuditEvent.objects.filter(action="privacy.org_deleted", target_id=slug).count() == 1
    status, out = verify_chain()
    assert status == 0, out


def test_operators_see_every_request_and_nobody_else_does(people, tmp_path):
    run_command("export_org_data", "--org", people.org_b.slug, "--out", str(tmp_path / "b.zip"))
    run_command("export_user_data", "--user", people.alice.username, "--out", str(tmp_path / "a.zip"))
    root = User.objects.create_user(username=f"root-{people.alice.pk}", password="x", is_superuser=True)
    page = _client(root).get("/privacy/requests/").content.decode()
    assert f"org {people.org_b.slug}" in page and f"user #{people.alice.pk}" in page
    assert _client(people.alice).get("/privacy/requests/").status_code == 404
    # An owner's register shows their organization and its members, not another organization.
    register = _client(people.alice).get(f"/o/{people.org_a.slug}/privacy/requests/").content.decode()
    assert f"user #{people.alice.pk}" in register and people.org_b.slug not in register
