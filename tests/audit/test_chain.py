"""The hash chain: links and hashes, append-only in Python and in SQL, verify_audit finding edits
and deletions (made with the trigger disabled), and one chain from concurrent writers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from django.core.management import CommandError
from django.db import DatabaseError, connection, connections, transaction

from omni.audit.chain import GENESIS_HASH, compute_hash, personal_digest
from omni.audit.models import AuditChainHead, AuditEvent, AuditImmutableError
from omni.audit.services import AuditTarget, append, build_event, record
from omni.tenants.services import delete_organization
from tests.audit.conftest import events, last_event, verify, verify_adds_no_problem
from tests.factories import OrganizationFactory
from tests.live import database_url

ROOT = Path(__file__).resolve().parents[2]


def _trigger(enabled: bool) -> None:
    if connection.vendor == "postgresql":
        verb = "ENABLE" if enabled else "DISABLE"
        with connection.cursor() as cursor:
            # The test's transaction holds deferred FK checks, which ALTER TABLE refuses to skip.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE audit_auditevent {verb} TRIGGER audit_event_append_only")
            cursor.execute(f"ALTER TABLE audit_auditchainhead {verb} TRIGGER audit_head_forward_only")


def _three(run_on_commit, tag: str) -> list[AuditEvent]:
    with run_on_commit():
        for n in range(3):
            record("test.chain", target=AuditTarget("test", tag, f"{tag}-{n}"), data={"n": n})
    return events(target_id=tag)


def test_events_link_into_one_chain(world, run_on_commit):
    tag = uuid.uuid4().hex
    chain = _three(run_on_commit, tag)
    assert [e.data["n"] for e in chain] == [0, 1, 2]
    assert [e.seq for e in chain] == list(range(chain[0].seq, chain[0].seq + 3))
    for previous, event in zip(chain, chain[1:], strict=False):
        assert event.prev_hash == previous.hash
    for event in chain:
        assert event.hash == compute_hash(event) and len(event.hash) == 64
        assert event.actor_type == "system" and event.actor_name == "system"
    first = AuditEvent.objects.get(seq=1)
    assert first.prev_hash == GENESIS_HASH
    head = AuditChainHead.objects.get(pk=1)
    assert (head.last_seq, head.last_hash) == (chain[-1].seq, chain[-1].hash)
    status, out = verify()
    assert status == 0 and "OK:" in out and "events verified" in out


def test_nothing_is_written_when_the_business_transaction_rolls_back(world, run_on_commit):
    tag = uuid.uuid4().hex
    with run_on_commit():
        with pytest.raises(RuntimeError), transaction.atomic():
            record("test.rollback", target=AuditTarget("test", tag))
            raise RuntimeError("the change failed")
    assert events(target_id=tag) == []


def test_values_read_back_exactly_as_hashed(world, run_on_commit):
    tricky = {
        "float16": 1e16,
        "tenth": 0.1,
        "tiny": 1.5e-7,
        "huge": 1.5e300,
        "nan": float("nan"),
        "nul": "a\x00b",
        "unicode": "é ☃ 𝄞",
        "nested": {"b": [1, 2.0, {"z": None, "a": True}], "a": ()},
        "set": {"x", "y"},
    }
    with run_on_commit():
        record("test.values", data=tricky)
    event = last_event(action="test.values")
    event.refresh_from_db()
    assert event.data["float16"] == 10**16 and event.data["nan"] == "nan" and event.data["nul"] == "a\ufffdb"
    assert event.data["nested"] == {"a": [], "b": [1, 2, {"a": True, "z": None}]}
    assert event.hash == compute_hash(event)
    assert verify()[0] == 0


def test_python_refuses_changes_and_deletions(world, run_on_commit):
    with run_on_commit():
        record("test.immutable")
    event = last_event(action="test.immutable")
    event.actor_name = "mallory"
    with pytest.raises(AuditImmutableError):
        event.save()
    with pytest.raises(AuditImmutableError):
        event.delete()
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.filter(pk=event.pk).update(actor_name="mallory")
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(AuditImmutableError):
        AuditEvent._base_manager.filter(pk=event.pk).update(data={})
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.bulk_update([event], ["actor_name"])
    assert AuditEvent.objects.get(pk=event.pk).actor_name == "system"


def test_the_admin_is_read_only(world, client, run_on_commit):
    from tests.factories import UserFactory

    with run_on_commit():
        record("test.admin")
    event = last_event(action="test.admin")
    admin = UserFactory(username=f"root-{uuid.uuid4().hex[:6]}", is_staff=True, is_superuser=True)
    client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/admin/audit/auditevent/").status_code == 200
    page = client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"action": "x"}).status_code == 403
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk, action="test.admin").exists()


def test_sql_refuses_update_and_delete_on_postgresql(world, run_on_commit):
    with run_on_commit():
        record("test.trigger")
    event = last_event(action="test.trigger")
    statements = [
        ("UPDATE audit_auditevent SET actor_name = 'mallory' WHERE id = %s", [event.pk]),
        ("DELETE FROM audit_auditevent WHERE id = %s", [event.pk]),
        ("UPDATE audit_auditchainhead SET last_seq = last_seq - 1 WHERE id = 1", []),
        ("DELETE FROM audit_auditchainhead", []),
    ]
    for sql, params in statements:
        if connection.vendor == "postgresql":
            with pytest.raises(DatabaseError, match="append-only|only moves forward"):
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(sql, params)
        else:  # SQLite has no trigger (documented): Python refuses, verify_audit detects
            assert connection.vendor == "sqlite"
    assert AuditEvent.objects.get(pk=event.pk).actor_name == "system"
    assert verify()[0] == 0


def test_verify_detects_an_edit_made_with_the_trigger_disabled(world, run_on_commit):
    tag = uuid.uuid4().hex
    chain = _three(run_on_commit, tag)
    target = chain[1]
    _trigger(enabled=False)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_name = 'someone else' WHERE id = %s", [target.pk])
    _trigger(enabled=True)
    status, out = verify()
    assert status == 1
    assert f"first broken seq {target.seq}" in out
    assert f"seq {target.seq} [edited]" in out
    # Re-hashing the edited row (its personal digest, then its hash) does not help: the next
    # row's link breaks instead.
    edited = AuditEvent.objects.get(pk=target.pk)
    assert edited.chain_version == 2
    edited.personal["actor_name"] = personal_digest(edited.personal_salts["actor_name"], edited.actor_name)
    _trigger(enabled=False)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET personal = %s, hash = %s WHERE id = %s",
            [json.dumps(edited.personal), compute_hash(edited), target.pk],
        )
    _trigger(enabled=True)
    status, out = verify()
    assert status == 1 and f"seq {chain[2].seq} [broken_link]" in out


def test_verify_detects_deleted_rows_in_the_middle_and_at_the_end(world, run_on_commit):
    tag = uuid.uuid4().hex
    chain = _three(run_on_commit, tag)
    _trigger(enabled=False)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [chain[1].pk])
    status, out = verify()
    assert status == 1 and f"seq {chain[2].seq} [gap]" in out and f"seq {chain[1].seq} missing" in out
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [chain[2].pk])
    _trigger(enabled=True)
    status, out = verify()
    assert status == 1 and "[head]" in out and f"the table ends at seq {chain[0].seq}" in out


def test_verify_for_one_organization(world, run_on_commit):
    with run_on_commit():
        record("test.org", organization=world.acme)
        record("test.org", organization=world.globex)
        record("test.org", organization=world.acme)
    acme_count = AuditEvent.objects.filter(org_slug=world.acme.slug).count()
    globex_event = last_event(org_slug=world.globex.slug, action="test.org")
    status, out = verify("--org", world.acme.slug)
    assert status == 0 and f"of {world.acme.slug}" in out
    _trigger(enabled=False)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_name = 'x' WHERE id = %s", [globex_event.pk])
    _trigger(enabled=True)
    # Only globex's row changed: acme's events still verify, globex's do not.
    status, out = verify("--org", world.acme.slug)
    assert status == 0 and f"{acme_count} events verified" in out
    status, out = verify("--org", world.globex.slug)
    assert status == 1 and f"seq {globex_event.seq} [edited]" in out
    status, out = verify()
    assert status == 1 and f"first broken seq {globex_event.seq}" in out
    with pytest.raises(CommandError, match="no organization"):
        verify("--org", "no-such-org-anywhere")


def test_deleting_an_organization_keeps_its_events(db, run_on_commit):
    org = OrganizationFactory(slug=f"gone-{uuid.uuid4().hex[:8]}")
    with run_on_commit():
        record("test.gone", organization=org, data={"x": 1})
    with run_on_commit():
        delete_organization(org)
    event = last_event(action="test.gone")
    assert event.organization_id is None and event.org_slug == org.slug
    assert last_event(action="org.delete", org_slug=org.slug).target_id == org.slug
    assert verify()[0] == 0
    status, out = verify("--org", org.slug)
    assert status == 0 and "2 events verified" in out


# --------------------------------------------------------------------------- concurrency
def _append_many(count: int, tag: str, errors: list) -> None:
    try:
        for n in range(count):
            append(build_event("test.concurrent", target=AuditTarget("test", tag, f"{tag}-{n}")))
    except Exception as exc:  # reported by the test
        errors.append(exc)
    finally:
        connections.close_all()


SUBPROCESS_SCRIPT = """
import django, sys
django.setup()
from omni.audit.services import AuditTarget, append, build_event
for n in range(int(sys.argv[2])):
    append(build_event("test.concurrent", target=AuditTarget("test", sys.argv[1], str(n))))
"""


def test_concurrent_writers_in_threads_and_processes_form_one_chain(committed):
    _, before = verify()
    tag = uuid.uuid4().hex
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "omni.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
    }
    processes = [
        subprocess.Popen([sys.executable, "-c", SUBPROCESS_SCRIPT, tag, "25"], cwd=ROOT, env=env)
        for _ in range(2)
    ]
    errors: list = []
    threads = [threading.Thread(target=_append_many, args=(25, tag, errors)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for process in processes:
        assert process.wait(timeout=120) == 0
    assert errors == []
    mine = events(target_id=tag)
    assert len(mine) == 8 * 25
    assert len({e.seq for e in mine}) == len(mine)
    verify_adds_no_problem(before)
