"""Pruning the audit log: a prefix of the chain goes, a checkpoint event records where it ended,
``verify_audit`` verifies from there on and still finds a tampered event after it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from omni.audit.chain import CHECKPOINT_ACTION, latest_checkpoint
from omni.audit.models import AuditEvent
from omni.audit.services import AuditTarget, append, build_event
from omni.privacy.retention.engine import apply_retention
from omni.privacy.retention.policy import set_legal_hold
from tests.privacy.conftest import set_trigger, verify

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the chain's triggers are PostgreSQL's"
)


def _events(org, tag: str, n: int, **extra) -> list[AuditEvent]:
    return [
        append(
            build_event(
                "test.retention", organization=org, target=AuditTarget("t", tag, f"{tag}-{i}"), **extra
            )
        )
        for i in range(n)
    ]


def _cutoff_between(older: AuditEvent, newer: AuditEvent):
    assert older.created_at < newer.created_at
    return older.created_at + (newer.created_at - older.created_at) / 2


def test_pruning_removes_a_prefix_and_the_chain_still_verifies(world):
    tag = uuid.uuid4().hex
    old = _events(world.acme, tag, 4) + _events(world.globex, tag, 2) + _events(None, tag, 1)
    new = _events(world.acme, tag, 3)
    cutoff = _cutoff_between(old[-1], new[0])
    due = AuditEvent.objects.filter(created_at__lt=cutoff).count()  # earlier tests' too
    now = cutoff + timedelta(days=365)  # audit events: 365 days by default

    summary = apply_retention(classes=["audit_events"], now=now, batch_size=3)

    assert summary.deleted == due
    assert not AuditEvent.objects.filter(pk__in=[e.pk for e in old]).exists()
    assert AuditEvent.objects.filter(pk__in=[e.pk for e in new]).count() == 3
    checkpoint = latest_checkpoint()
    assert checkpoint is not None
    assert checkpoint.through_seq == old[-1].seq and checkpoint.through_hash == old[-1].hash
    assert checkpoint.removed_total >= due
    # One checkpoint per batch of 3; each names the last seq it removed.
    checkpoints = AuditEvent.objects.filter(action=CHECKPOINT_ACTION, seq__gt=new[-1].seq)
    assert checkpoints.count() == -(-due // 3)
    status, out = verify()
    assert status == 0, out
    assert f"events up to seq {old[-1].seq} were removed by policy" in out and "OK:" in out


def test_verify_detects_a_tampered_event_after_the_checkpoint(world):
    tag = uuid.uuid4().hex
    old = _events(world.acme, tag, 3)
    new = _events(world.acme, tag, 3)
    cutoff = _cutoff_between(old[-1], new[0])
    apply_retention(classes=["audit_events"], now=cutoff + timedelta(days=365))
    assert verify()[0] == 0
    set_trigger(False)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_name = 'mallory' WHERE id = %s", [new[1].pk])
    set_trigger(True)
    status, out = verify()
    assert status == 1
    assert f"seq {new[1].seq} [edited]" in out


def test_verify_detects_an_event_deleted_after_the_checkpoint(world):
    tag = uuid.uuid4().hex
    old = _events(world.acme, tag, 2)
    new = _events(world.acme, tag, 3)
    apply_retention(classes=["audit_events"], now=_cutoff_between(old[-1], new[0]) + timedelta(days=365))
    set_trigger(False)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [new[1].pk])
    set_trigger(True)
    status, out = verify()
    assert status == 1 and f"seq {new[2].seq} [gap]" in out


def test_sql_still_refuses_a_delete_outside_retention(world):
    (event,) = _events(world.acme, uuid.uuid4().hex, 1)
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_legal_hold_keeps_the_events_of_the_organization_and_everything_after(world):
    tag = uuid.uuid4().hex
    set_legal_hold(world.acme, True, reason="case", actor="test")
    before = _events(world.globex, tag, 2)
    held = _events(world.acme, tag, 2)
    after = _events(world.globex, tag, 2)
    new = _events(world.globex, tag, 1)
    now = _cutoff_between(after[-1], new[0]) + timedelta(days=365)

    apply_retention(classes=["audit_events"], now=now)

    assert not AuditEvent.objects.filter(pk__in=[e.pk for e in before]).exists()
    assert AuditEvent.objects.filter(pk__in=[e.pk for e in held + after + new]).count() == 5
    assert latest_checkpoint().through_seq == before[-1].seq
    assert verify()[0] == 0

    set_legal_hold(world.acme, False, actor="test")
    apply_retention(classes=["audit_events"], now=now)
    assert not AuditEvent.objects.filter(pk__in=[e.pk for e in held + after]).exists()
    assert AuditEvent.objects.filter(pk=new[0].pk).exists()
    assert verify()[0] == 0


def test_a_longer_period_of_one_organization_holds_back_the_prefix(world):
    from omni.privacy.retention.policy import set_days

    tag = uuid.uuid4().hex
    set_days(world.acme, {"audit_events": 3000})
    first = _events(world.globex, tag, 1)
    kept = _events(world.acme, tag, 1)
    later = _events(world.globex, tag, 1)
    new = _events(world.globex, tag, 1)
    apply_retention(classes=["audit_events"], now=_cutoff_between(later[0], new[0]) + timedelta(days=365))
    assert not AuditEvent.objects.filter(pk=first[0].pk).exists()
    assert AuditEvent.objects.filter(pk__in=[kept[0].pk, later[0].pk, new[0].pk]).count() == 3


def test_pruning_refuses_to_remove_a_tampered_event(world):
    tag = uuid.uuid4().hex
    old = _events(world.acme, tag, 3)
    new = _events(world.acme, tag, 1)
    set_trigger(False)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_name = 'mallory' WHERE id = %s", [old[1].pk])
    set_trigger(True)
    summary = apply_retention(
        classes=["audit_events"], now=_cutoff_between(old[-1], new[0]) + timedelta(days=365)
    )
    (run,) = summary.runs
    assert run.status == "failed" and f"seq {old[1].seq} does not match its hash" in run.error
    assert AuditEvent.objects.filter(pk=old[1].pk).exists()  # the evidence stays
    status, out = verify()
    assert status == 1 and f"seq {old[1].seq} [edited]" in out


def test_removed_spooled_events_are_not_reported_lost(world):
    source = f"test-spool-{uuid.uuid4().hex[:8]}"
    old = _events(world.acme, source, 3)
    spooled_old = [
        append({**build_event("test.retention", organization=world.acme), "source": source, "source_seq": n})
        for n in (1, 2, 3)
    ]
    spooled_new = [
        append({**build_event("test.retention", organization=world.acme), "source": source, "source_seq": 4})
    ]
    now = _cutoff_between(spooled_old[-1], spooled_new[0]) + timedelta(days=365)
    apply_retention(classes=["audit_events"], now=now)
    assert not AuditEvent.objects.filter(pk__in=[e.pk for e in old + spooled_old]).exists()
    assert latest_checkpoint().sources[source] == [(1, 3)]
    status, out = verify()  # with the spool check
    assert status == 0, out
    assert "0 lost" in out


def test_dry_run_counts_the_prefix_and_removes_nothing(world):
    tag = uuid.uuid4().hex
    old = _events(world.acme, tag, 3)
    new = _events(world.acme, tag, 1)
    cutoff = _cutoff_between(old[-1], new[0])
    due = AuditEvent.objects.filter(created_at__lt=cutoff).count()
    total = AuditEvent.objects.count()
    summary = apply_retention(classes=["audit_events"], now=cutoff + timedelta(days=365), dry_run=True)
    assert summary.runs[0].deleted == due and summary.runs[0].dry_run
    assert AuditEvent.objects.count() == total


def test_a_checkpoint_is_part_of_the_chain(world):
    """The checkpoint itself is hashed and linked: editing what it says breaks verification."""
    tag = uuid.uuid4().hex
    old = _events(world.acme, tag, 2)
    new = _events(world.acme, tag, 1)
    apply_retention(classes=["audit_events"], now=_cutoff_between(old[-1], new[0]) + timedelta(days=365))
    checkpoint = AuditEvent.objects.filter(action=CHECKPOINT_ACTION).order_by("-seq").first()
    assert timezone.now() - checkpoint.created_at < timedelta(minutes=5)
    set_trigger(False)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET data = jsonb_set(data, '{pruned_through_seq}', to_jsonb(seq - 1)) "
            "WHERE id = %s",
            [checkpoint.pk],
        )
    set_trigger(True)
    status, out = verify()
    assert status == 1 and f"seq {checkpoint.seq} [edited]" in out


def test_two_audit_pruning_runs_at_once_remove_each_event_once(committed):
    """Two threads prune the chain at once (batches of 5): the advisory lock makes them take turns,
    the counts add up to the events that were due, and the chain verifies. Committed: it really
    prunes the session's older events too (they are as due as these)."""
    import threading

    from django.db import connections

    from omni.privacy.retention.engine import run_class
    from omni.privacy.retention.registry import get
    from omni.tenants.services import create_organization
    from tests.live import unique_slug

    org = create_organization(unique_slug("prune"), "Prune")
    tag = uuid.uuid4().hex
    old = _events(org, tag, 30)
    (marker,) = _events(org, tag, 1)
    cutoff = _cutoff_between(old[-1], marker)
    due = AuditEvent.objects.filter(created_at__lt=cutoff).count()
    now = cutoff + timedelta(days=365)
    barrier = threading.Barrier(2, timeout=30)
    counts: list[int] = []
    errors: list[BaseException] = []

    def prune() -> None:
        try:
            barrier.wait()
            run = run_class(
                get("audit_events"), None, run_id=uuid.uuid4(), now=now, batch_size=5, max_batches=10_000
            )
            assert run.status == "done", run.error
            counts.append(run.deleted)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=prune) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    print(f"\nconcurrent audit pruning: {counts} of {due} due events")
    assert sum(counts) == due
    assert not AuditEvent.objects.filter(pk__in=[e.pk for e in old]).exists()
    assert AuditEvent.objects.filter(pk=marker.pk).exists()
    assert latest_checkpoint().through_seq == old[-1].seq
    status, out = verify("--no-spool")
    assert status == 0, out
    org.delete()
