"""The audit spool's parts against the real test database: a duplicate delivery is stored once, a
poison event goes to the dead letters (and its neighbours are written), spool files of a process
that is gone are taken over, torn lines are not silently dropped."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from django.utils import timezone

from omni.audit.models import AuditDeadLetter, AuditEvent, AuditSource
from omni.audit.services import AuditTarget, build_event
from omni.audit.spool.events import SpooledEvent, decode, encode
from omni.audit.spool.files import FileSpool
from omni.audit.spool.store import write_batch
from omni.audit.spool.writer import Writer
from omni.tenants.services import create_organization
from tests.audit.conftest import verify, verify_adds_no_problem
from tests.live import unique_slug


def _event(org, source: str, number: int, note: str) -> SpooledEvent:
    values = build_event(
        "mcp.tools_call",
        organization=org,
        actor="spool-test",
        target=AuditTarget("mcp.tool", note),
        data={"note": note, "outcome": "ok"},
    )
    return SpooledEvent(str(uuid.uuid4()), source, number, timezone.now(), values)


def test_a_duplicate_delivery_is_stored_once(committed):
    _, before = verify()
    org = create_organization(unique_slug("dup"), "Dup")
    source = f"test-dup-{uuid.uuid4().hex[:8]}"
    first, second = _event(org, source, 1, "one"), _event(org, source, 2, "two")
    result = write_batch([first, first, second])
    assert (result.stored, result.duplicates) == (2, 1)
    again = write_batch([second, first])  # a redelivered batch (e.g. taken over after a crash)
    assert (again.stored, again.duplicates) == (0, 2)
    rows = list(
        AuditEvent.objects.filter(source=source).order_by("source_seq").values_list("source_seq", "data")
    )
    assert [(n, data["note"]) for n, data in rows] == [(1, "one"), (2, "two")]
    assert AuditSource.objects.get(name=source).written == 2
    verify_adds_no_problem(before)


def test_a_poison_event_is_dead_lettered_and_its_batch_is_written(committed):
    _, before = verify()
    org = create_organization(unique_slug("poison"), "Poison")
    source = f"test-poison-{uuid.uuid4().hex[:8]}"
    good1, good2 = _event(org, source, 1, "good-1"), _event(org, source, 3, "good-2")
    bad = _event(org, source, 2, "bad")
    poison_values = {**bad.values, "no_such_column": 1}  # the database can never store this
    poison_payload = encode(bad.public_id, source, 2, bad.at, poison_values)
    writer = Writer(write=True)
    entries = [
        _entry(good1.encode()),
        _entry(poison_payload),
        _entry(good2.encode()),
        _entry('{"not": "an event"}'),
    ]
    writer.process(entries)
    written = (
        AuditEvent.objects.filter(source=source).order_by("source_seq").values_list("source_seq", flat=True)
    )
    assert list(written) == [1, 3]
    letters = {letter.source_seq: letter for letter in AuditDeadLetter.objects.filter(source=source)}
    assert set(letters) == {2} and "no_such_column" in letters[2].error
    assert AuditDeadLetter.objects.filter(payload='{"not": "an event"}', source="").exists()
    counts = AuditSource.objects.get(name=source)
    assert (counts.written, counts.dead) == (2, 1)
    assert writer.stats["dead"] == 2
    out = verify_adds_no_problem(before)
    assert "dead-lettered" in out, out  # kept and counted, not lost


def _entry(payload: str):
    from omni.audit.spool.files import Entry

    try:
        return Entry("test", payload, decode(payload, "test"))
    except ValueError as exc:
        return Entry("test", payload, error=str(exc))


def test_spool_files_of_a_process_that_is_gone_are_taken_over():
    directory = Path(tempfile.mkdtemp(prefix="omni-spool-unit-"))
    values = {"action": "mcp.tools_call", "data": {}}
    alive = FileSpool(directory, fsync="always")
    for number in (1, 2, 3):
        alive.put("host:1:aaaa", encode(str(uuid.uuid4()), "host:1:aaaa", number, timezone.now(), values))
    own = alive.read_own(10)
    assert [entry.event.source_seq for entry in own] == [1, 2, 3]
    heir = FileSpool(directory)
    assert heir.read_orphans(10) == []  # its process holds the lock: not an orphan
    path = alive._path
    assert path is not None
    with path.open("ab") as fh:
        fh.write(b"0badc0de {half a line")  # a torn write at the end
    os.close(alive._fd)  # the process dies (its lock goes with it)
    taken = heir.read_orphans(10)
    assert [entry.event.source_seq for entry in taken if entry.event] == [1, 2, 3]
    (torn,) = [entry for entry in taken if entry.event is None]
    assert "torn" in torn.error  # goes to the dead letters, not dropped
    heir.done_orphans(taken)
    assert not path.exists()
    assert heir.pending_numbers() == {}


def test_beat_schedules_the_spool_task_and_it_writes_what_is_spooled(
    committed, settings, monkeypatch, tmp_path
):
    from omni.audit.spool import Spool
    from omni.audit.spool import writer as writer_module
    from omni.audit.tasks import write_audit_spool
    from omni.celery import app

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "omni.audit.tasks.write_audit_spool" in scheduled
    app.loader.import_default_modules()
    assert "omni.audit.tasks.write_audit_spool" in app.tasks
    # An event in a spool (Redis stream with REDIS_URL, else a file) that no writer thread takes:
    # the task writes it, once. The spool is one of the test's own, and only the task's run_once
    # is pointed at it: the live servers of the session (same database, same Redis) would
    # otherwise write the event first, and swapping the process's spool would strand the events
    # other threads of this process record meanwhile in a stream nobody reads.
    from django.test import override_settings

    with override_settings(AUDIT_SPOOL_KEY=f"omni:audit:spool-test-{uuid.uuid4().hex[:8]}", VAR_DIR=tmp_path):
        private = Spool()  # the settings are read here, and restored at once for the rest of the process
    run_once = writer_module.run_once
    monkeypatch.setattr(writer_module, "run_once", lambda **kwargs: run_once(spool=private, **kwargs))
    org = create_organization(unique_slug("beat"), "Beat")
    note = f"from-the-task-{uuid.uuid4().hex[:8]}"
    values = build_event(
        "mcp.tools_call", organization=org, actor="spool-test", target=AuditTarget("mcp.tool", note),
        data={"note": note, "outcome": "ok"},
    )  # fmt: skip
    private.put(values)
    assert not AuditEvent.objects.filter(organization=org, data__note=note).exists()
    stats = write_audit_spool.apply().get()
    assert stats["written"] >= 1
    assert AuditEvent.objects.filter(organization=org, data__note=note).count() == 1
