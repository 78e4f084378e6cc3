"""The Redis spool: one stream (``AUDIT_SPOOL_KEY``) that every process appends to with ``XADD``
before the response is sent, drained by a consumer group that every writer joins.

* A writer reads new entries with ``XREADGROUP`` (they enter its pending list), writes them into
  the database, then ``XACK`` + ``XDEL``s them: the stream holds only events not yet written.
* Entries that a writer read but never acknowledged (its process died, or it has been retrying for
  longer than ``AUDIT_SPOOL_CLAIM_IDLE`` seconds) are taken over by another writer with
  ``XAUTOCLAIM``; the same event may then be written twice, and is stored once.
* A restarted Redis without persistence has lost the stream and the group: the group is made again
  (``MKSTREAM``). Keep Redis persistent (AOF) if the spool must survive a Redis restart.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from omni.audit.spool.events import BadEvent, decode, peek_number
from omni.audit.spool.files import Entry

logger = logging.getLogger(__name__)

GROUP = "omni-audit-writers"
FIELD = "e"


@dataclass
class RedisSpool:
    url: str
    key: str
    timeout: float = 0.5
    down_for: float = 2.0
    _client: Any = None
    _reader: Any = None
    _down_until: float = 0.0
    _claim_cursor: str = "0-0"
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ producing
    def client(self) -> Any:
        if self._client is None:
            import redis

            with self._lock:
                if self._client is None:
                    self._client = redis.Redis.from_url(
                        self.url,
                        socket_timeout=self.timeout,
                        socket_connect_timeout=self.timeout,
                        retry_on_timeout=False,
                        health_check_interval=30,
                    )
        return self._client

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def put(self, payload: str) -> None:
        """``XADD``; raises when Redis cannot take it (the caller falls back to the file spool),
        and then skips Redis for ``down_for`` seconds so requests do not each wait on a timeout."""
        try:
            self.client().xadd(self.key, {FIELD: payload})
        except Exception:
            self._down_until = time.monotonic() + self.down_for
            raise

    # ------------------------------------------------------------------ the writer's side
    def reader(self) -> Any:
        """The writer thread's own client: its blocking reads need a longer socket timeout."""
        if self._reader is None:
            import redis

            self._reader = redis.Redis.from_url(
                self.url, socket_timeout=10, socket_connect_timeout=2, health_check_interval=30
            )
        return self._reader

    def ensure_group(self) -> None:
        import redis

        try:
            self.reader().xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, consumer: str, count: int, block_ms: int, *, own_pending: bool) -> list[Entry]:
        """New entries for ``consumer`` (or, with ``own_pending``, the ones it read before and
        did not acknowledge)."""
        import redis

        try:
            reply = self.reader().xreadgroup(
                GROUP,
                consumer,
                {self.key: "0" if own_pending else ">"},
                count=count,
                block=block_ms if block_ms > 0 else None,  # BLOCK 0 would wait for ever
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.ensure_group()
            return []
        entries: list[Entry] = []
        for _stream, items in reply or []:
            entries.extend(_entry(entry_id, fields) for entry_id, fields in items)
        return entries

    def claim(self, consumer: str, min_idle: float, count: int) -> list[Entry]:
        """Entries other writers read and left unacknowledged for ``min_idle`` seconds."""
        import redis

        try:
            reply = self.reader().xautoclaim(
                self.key, GROUP, consumer, int(min_idle * 1000), start_id=self._claim_cursor, count=count
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.ensure_group()
            return []
        cursor, items = reply[0], reply[1]
        deleted = reply[2] if len(reply) > 2 else []
        self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        if deleted:  # written and deleted by a writer that died before its XACK
            self.reader().xack(self.key, GROUP, *deleted)
        entries = [_entry(entry_id, fields) for entry_id, fields in items if fields]
        if entries:
            logger.info("took over %d audit events left unacknowledged by another writer", len(entries))
        return entries

    def done(self, entries: list[Entry]) -> None:
        """The entries are in the database: acknowledge and delete them."""
        ids = [entry.spool_id for entry in entries]
        if not ids:
            return
        pipe = self.reader().pipeline(transaction=False)
        pipe.xack(self.key, GROUP, *ids)
        pipe.xdel(self.key, *ids)
        pipe.execute()

    # ------------------------------------------------------------------ for verify_audit
    def pending_numbers(self, chunk: int = 1000) -> dict[str, set[int]]:
        found: dict[str, set[int]] = {}
        start = "-"
        client = self.reader()
        while True:
            items = client.xrange(self.key, min=start, max="+", count=chunk)
            for _entry_id, fields in items:
                number = peek_number(fields.get(FIELD.encode(), b""))
                if number is not None:
                    found.setdefault(number[0], set()).add(number[1])
            if len(items) < chunk:
                return found
            start = "(" + _text(items[-1][0])

    def close(self) -> None:
        for client in (self._client, self._reader):
            if client is not None:
                try:
                    client.close()
                except Exception:  # noqa: S110 (closing at exit)
                    pass
        self._client = self._reader = None


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _entry(entry_id: Any, fields: dict) -> Entry:
    spool_id = _text(entry_id)
    raw = fields.get(FIELD.encode(), fields.get(FIELD)) if fields else None
    if raw is None:
        return Entry(spool_id, repr(fields), error="a stream entry without an event field")
    payload = _text(raw)
    try:
        return Entry(spool_id, payload, decode(payload, spool_id))
    except BadEvent as exc:
        return Entry(spool_id, payload, error=str(exc))
