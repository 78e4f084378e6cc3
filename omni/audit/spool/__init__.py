"""The durable audit spool: events are numbered and stored here before the response is sent, and a
writer (``omni.audit.spool.writer``) moves them into the database.

    from omni.audit.spool import get_spool
    get_spool().put(values)        # values: omni.audit.services.build_event(...)

With ``REDIS_URL`` the spool is a Redis stream (``redis_spool``); without it, or while Redis does
not answer, a local write-ahead file under ``var/audit-spool/`` (``files``). ``put`` returns once the
event is in one of them; if neither takes it (Redis down *and* the disk refusing), the event is
kept in this process's memory, logged at ERROR, and spooled again by the writer as soon as it can.
"""

from __future__ import annotations

import atexit
import logging
import threading
import uuid
from typing import Any

from django.conf import settings
from django.utils import timezone

from omni.audit.spool.events import encode, numbering, peek_number
from omni.audit.spool.files import FileSpool, database_fingerprint, spool_dir
from omni.audit.spool.redis_spool import RedisSpool

logger = logging.getLogger(__name__)


class Spool:
    def __init__(self) -> None:
        from django.db import connections

        database = connections["default"].settings_dict
        directory = spool_dir(settings.VAR_DIR, database)
        self.files = FileSpool(directory, fsync=settings.AUDIT_SPOOL_FSYNC)
        self.redis: RedisSpool | None = None
        if settings.REDIS_URL:
            # One stream per database, like the files: deployments (or test servers) that share a
            # Redis but not a database never write each other's events into the wrong database.
            key = f"{settings.AUDIT_SPOOL_KEY}:{database_fingerprint(database)}"
            self.redis = RedisSpool(settings.REDIS_URL, key, timeout=settings.AUDIT_SPOOL_REDIS_TIMEOUT)
        self.memory: list[tuple[str, str]] = []  # (source, payload) that no spool took yet
        self.wake = threading.Event()
        atexit.register(self.files.close)  # deletes the own file if everything in it is written

    def put(self, values: dict[str, Any]) -> tuple[str, int]:
        """Number the event and spool it durably; returns its (source, number). Never raises."""
        with numbering.lock:
            source, number = numbering.next()
            payload = encode(str(uuid.uuid4()), source, number, timezone.now(), values)
            self._put(source, payload)
        self.wake.set()
        return source, number

    def _put(self, source: str, payload: str) -> None:
        if self.redis is not None and self.redis.available:
            try:
                self.redis.put(payload)
                return
            except Exception as exc:
                logger.warning("audit spool: Redis did not take an event (%s); using the spool file", exc)
        try:
            self.files.put(source, payload)
        except OSError:
            logger.exception("audit spool: neither Redis nor the spool file took an event; kept in memory")
            self.memory.append((source, payload))

    def respool_memory(self) -> None:
        """Try again to spool what only memory holds (the writer calls this every turn)."""
        if not self.memory:
            return
        with numbering.lock:
            waiting, self.memory = self.memory, []
            for source, payload in waiting:
                self._put(source, payload)

    def pending_numbers(self) -> dict[str, set[int]]:
        """(source → numbers) of every event still in the spool (``verify_audit``)."""
        found = self.files.pending_numbers()
        if self.redis is not None:
            for source, numbers in self.redis.pending_numbers().items():
                found.setdefault(source, set()).update(numbers)
        for _source, payload in list(self.memory):
            number = peek_number(payload)
            if number is not None:
                found.setdefault(number[0], set()).add(number[1])
        return found


_spool: Spool | None = None
_spool_lock = threading.Lock()


def get_spool() -> Spool:
    global _spool
    if _spool is None:
        with _spool_lock:
            if _spool is None:
                _spool = Spool()
    return _spool


def reset_for_tests() -> None:
    global _spool
    with _spool_lock:
        _spool = None
