"""The writer: moves spooled events into the database, in a thread of its own.

One daemon thread per process (started by the first ``record_later``, or by ``ensure_writer``), with
its own database connection: waiting on the chain-head lock or on a database that is down blocks
this thread only, never the request path nor the process's shared ORM thread.

Every turn it writes, in batches of ``AUDIT_SPOOL_BATCH``: its own spool file, the spool files of
processes that are gone, and with Redis the stream (new entries, and entries another writer left
unacknowledged for ``AUDIT_SPOOL_CLAIM_IDLE`` s). A batch is retried with exponential backoff (up to
``AUDIT_SPOOL_RETRY_MAX`` s between tries) for as long as the database is unreachable, and removed
from the spool only after it committed. A batch that the database refuses is written one event at
a time; an event refused ``AUDIT_SPOOL_POISON_ATTEMPTS`` times, or one that cannot be decoded, goes to
the dead letters (``AuditDeadLetter``), logged at ERROR and counted. Every second it also reports
how far its process's counter went (``AuditSource.spooled``), which ``verify_audit`` checks against.

With ``AUDIT_SPOOL_WRITER=false`` the thread only reports (and fsyncs); ``manage.py audit_writer``
or the Celery task ``omni.audit.tasks.write_audit_spool`` then do the writing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, ProgrammingError, connections

from omni.audit.spool import Spool, get_spool
from omni.audit.spool.events import numbering
from omni.audit.spool.files import Entry
from omni.audit.spool.store import dead_letter, report_spooled, write_batch

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Abandoned(Exception):
    """The process is stopping and the drain deadline passed: the events stay in the spool."""


def transient(exc: BaseException) -> bool:
    """A failure of the database or Redis rather than of the event (retry, never dead-letter)."""
    if isinstance(exc, OperationalError | InterfaceError | ProgrammingError | OSError):
        return True
    try:
        import redis
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, redis.RedisError)


def _close_db() -> None:
    with contextlib.suppress(Exception):
        connections["default"].close()


class Writer:
    def __init__(self, spool: Spool | None = None, *, write: bool = True) -> None:
        self.spool = spool or get_spool()
        self.write = write
        self.batch = settings.AUDIT_SPOOL_BATCH
        self.claim_idle = settings.AUDIT_SPOOL_CLAIM_IDLE
        self.retry_max = settings.AUDIT_SPOOL_RETRY_MAX
        self.poison_attempts = settings.AUDIT_SPOOL_POISON_ATTEMPTS
        self.stop_event = threading.Event()
        self.deadline: float | None = None  # set by flush(): give up retrying after it
        self.reported = 0
        self.last_report = 0.0
        self.last_claim = 0.0
        self.group_ready = False
        self.stats = {"written": 0, "duplicates": 0, "dead": 0, "retries": 0}
        self.thread: threading.Thread | None = None
        self.pid = os.getpid()

    # ------------------------------------------------------------------ the thread
    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name="omni-audit-writer", daemon=True)
        self.thread.start()

    def run(self) -> None:
        pause = 0.2
        while not self.stop_event.is_set():
            try:
                worked = self.turn(block=True)
                pause = 0.2
                if not worked:
                    _close_db()  # idle: hand the connection back
            except Abandoned:
                self.stop_event.wait(0.5)
            except Exception as exc:
                if not transient(exc):
                    logger.exception("audit writer: unexpected error (retrying)")
                else:
                    logger.warning("audit writer: %s (retrying in %.1fs)", exc, pause)
                _close_db()
                self.stop_event.wait(pause)
                pause = min(pause * 2, self.retry_max)
        _close_db()

    def turn(self, *, block: bool = False) -> bool:
        """One round over every spool; True when it wrote (or dead-lettered) something."""
        spool = self.spool
        spool.respool_memory()
        spool.files.sync()
        self.report()
        if not self.write:
            self.stop_event.wait(1.0 if block else 0)
            return False
        worked = False
        entries = spool.files.read_own(self.batch)
        if entries:
            self.process(entries)
            spool.files.done_own(entries)
            worked = True
        entries = spool.files.read_orphans(self.batch)
        if entries:
            self.process(entries)
            spool.files.done_orphans(entries)
            worked = True
        else:
            spool.files.finish_orphans()
        if spool.redis is not None:
            worked = self.turn_redis(block=block and not worked) or worked
        elif block and not worked:
            spool.wake.wait(0.5)
            spool.wake.clear()
        return worked

    def turn_redis(self, *, block: bool) -> bool:
        redis_spool = self.spool.redis
        assert redis_spool is not None
        consumer = numbering.name
        if not self.group_ready:
            redis_spool.ensure_group()
            self.group_ready = True
            entries = redis_spool.read(consumer, self.batch, 0, own_pending=True)
        elif time.monotonic() - self.last_claim >= min(self.claim_idle / 2, 5.0):
            entries = redis_spool.claim(consumer, self.claim_idle, self.batch)
            if redis_spool._claim_cursor in ("0-0", "0"):
                self.last_claim = time.monotonic()
        else:
            entries = redis_spool.read(consumer, self.batch, 500 if block else 0, own_pending=False)
        if not entries:
            return False
        self.process(entries)
        self.retry(lambda: redis_spool.done(entries))
        return True

    # ------------------------------------------------------------------ one batch
    def process(self, entries: list[Entry]) -> None:
        """Write ``entries`` (retrying while the database is away); returns when every one of them
        is stored or dead-lettered. Raises ``Abandoned`` when stopping past the deadline."""
        for entry in entries:
            if entry.event is None and self.retry(lambda entry=entry: self._dead(entry, entry.error)):
                self.stats["dead"] += 1
        good = [entry for entry in entries if entry.event is not None]
        if good:
            self.retry(lambda: self._write(good))

    def _write(self, good: list[Entry]) -> None:
        try:
            result = write_batch([entry.event for entry in good])  # type: ignore[misc]
        except Exception as exc:
            if transient(exc):
                raise
            _close_db()
            logger.warning("audit writer: a batch of %d was refused (%s); writing one by one", len(good), exc)
            for entry in good:
                self._write_one(entry)
            return
        self.stats["written"] += result.stored
        self.stats["duplicates"] += result.duplicates

    def _write_one(self, entry: Entry) -> None:
        assert entry.event is not None
        error: BaseException | None = None
        for _attempt in range(self.poison_attempts):
            try:
                result = write_batch([entry.event])
            except Exception as exc:
                if transient(exc):
                    raise
                _close_db()
                error = exc
                continue
            self.stats["written"] += result.stored
            self.stats["duplicates"] += result.duplicates
            return
        if self._dead(entry, f"{type(error).__name__}: {error}"):
            self.stats["dead"] += 1

    @staticmethod
    def _dead(entry: Entry, error: str) -> bool:
        return dead_letter(entry.payload, error, event=entry.event, spool_id=entry.spool_id)

    def retry(self, action: Callable[[], T]) -> T:
        """``action()`` until it succeeds, with exponential backoff on transient failures."""
        pause = 0.2
        while True:
            try:
                return action()
            except Exception as exc:
                if not transient(exc):
                    raise
                self.stats["retries"] += 1
                _close_db()
                if self.deadline is not None and time.monotonic() >= self.deadline:
                    raise Abandoned() from exc
                logger.warning("audit writer: %s; retrying in %.1fs (nothing is dropped)", exc, pause)
                wait = pause
                if self.deadline is not None:
                    wait = max(0.0, min(wait, self.deadline - time.monotonic()))
                time.sleep(wait)
                pause = min(pause * 2, self.retry_max)

    # ------------------------------------------------------------------ accounting
    def report(self, *, force: bool = False) -> None:
        """Record this process's counter in ``AuditSource`` (at most once a second)."""
        last = numbering.last
        if last <= self.reported or (not force and time.monotonic() - self.last_report < 1.0):
            return
        report_spooled(numbering.name, last)
        self.reported, self.last_report = last, time.monotonic()

    def settled(self) -> bool:
        """Is every event this process numbered written or dead-lettered (by any writer)?"""
        from omni.audit.models import AuditSource

        last = numbering.last
        if last == 0:
            return True
        row = AuditSource.objects.filter(name=numbering.name).values("written", "dead").first()
        return row is not None and row["written"] + row["dead"] >= last

    def wait_settled(self, timeout: float) -> bool:
        """Wait (polling the database) until ``settled``; False after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self.spool.wake.set()
                try:
                    if self.settled():
                        return True
                except Exception as exc:
                    if not transient(exc):
                        raise
                    _close_db()
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.05)
        finally:
            _close_db()

    def flush(self, timeout: float) -> bool:
        """At shutdown: write what this process spooled, for at most ``timeout`` seconds. What is
        not written by then stays in the durable spool for another process (or the next start)."""
        self.deadline = time.monotonic() + timeout
        with contextlib.suppress(Exception):
            self.spool.files.sync(force=True)
        with contextlib.suppress(Exception):
            self.report(force=True)
        done = self.wait_settled(timeout)
        if not done:
            logger.warning(
                "audit writer: stopping with events of %s not yet written; they stay in the spool "
                "and another writer (or the next start) writes them",
                numbering.name,
            )
        return done

    @property
    def alive(self) -> bool:
        return self.pid == os.getpid() and self.thread is not None and self.thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        self.spool.wake.set()
        if self.thread is not None:
            self.thread.join(timeout)


_writer: Writer | None = None
_writer_lock = threading.Lock()


def current_writer() -> Writer | None:
    writer = _writer
    return writer if writer is not None and writer.pid == os.getpid() else None


def ensure_writer() -> Writer:
    """This process's writer thread, started on first use (again in a forked child)."""
    global _writer
    writer = _writer
    if writer is not None and writer.alive:
        return writer
    with _writer_lock:
        writer = _writer
        if writer is None or not writer.alive:
            writer = Writer(write=settings.AUDIT_SPOOL_WRITER)
            writer.start()
            _writer = writer
            _register_drain()
    return writer


def _register_drain() -> None:
    from omni.lifecycle import on_drain

    on_drain(_drain_hook)


async def _drain_hook() -> None:
    import asyncio

    writer = current_writer()
    if writer is not None:
        await asyncio.to_thread(writer.flush, settings.AUDIT_SPOOL_DRAIN_TIMEOUT)


def stop_writer() -> None:
    """Stop this process's writer thread (tests)."""
    global _writer
    with _writer_lock:
        writer, _writer = _writer, None
    if writer is not None and writer.pid == os.getpid():
        writer.stop()


def run_once(
    *, claim_idle: float | None = None, max_turns: int = 10_000, spool: Spool | None = None
) -> dict[str, Any]:
    """Write everything in the spool now and return the counts (``manage.py audit_writer --once``,
    the Celery task). Bounded: at most ``max_turns`` batches. ``claim_idle``: take over stream
    entries other writers left unacknowledged this long (default ``AUDIT_SPOOL_CLAIM_IDLE``).
    ``spool``: another spool than the process's (tests)."""
    writer = Writer(spool, write=True)
    if claim_idle is not None:
        writer.claim_idle = claim_idle
    writer.last_claim = 0.0
    idle_turns = 0
    for _turn in range(max_turns):
        worked = writer.turn(block=False)
        if writer.spool.redis is not None:
            worked = writer.turn_redis(block=False) or worked  # a claim round, then a read round
        idle_turns = 0 if worked else idle_turns + 1
        if idle_turns >= 2:
            break
    writer.report(force=True)
    _close_db()
    return dict(writer.stats)
