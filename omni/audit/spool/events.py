"""A spooled event: the values of ``build_event`` plus what makes it unique and countable, assigned
where it happens, before it is spooled.

* ``id``: the event's ``public_id`` (a uuid4): the same event delivered twice is stored once.
* ``src`` and ``n``: the producing process (``host:pid:token``, new at every start and after a
  fork) and its own counter from 1. A number that never reaches the table is a lost event, which
  ``verify_audit`` reports (``omni.audit.spool.gaps``).
* ``at``: when it happened (the row's ``created_at``; ``seq`` is the order of writing).

The encoding is one compact JSON object (a Redis stream field, or one line of a spool file).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone


@dataclass(frozen=True)
class SpooledEvent:
    public_id: str
    source: str
    source_seq: int
    at: datetime
    values: dict[str, Any]
    spool_id: str = ""  # where it sits in its spool (stream id, file:offset); not encoded

    def encode(self) -> str:
        return encode(self.public_id, self.source, self.source_seq, self.at, self.values)


class BadEvent(ValueError):
    """A spooled payload that is not an event (it goes to the dead letters)."""


def encode(public_id: str, source: str, source_seq: int, at: datetime, values: dict[str, Any]) -> str:
    return json.dumps(
        {"id": public_id, "src": source, "n": source_seq, "at": at.isoformat(), "v": values},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def decode(payload: str | bytes, spool_id: str = "") -> SpooledEvent:
    """The event in ``payload``; ``BadEvent`` when it is not one."""
    try:
        raw = json.loads(payload)
        values = raw["v"]
        if not isinstance(values, dict) or not isinstance(values.get("action"), str):
            raise BadEvent("no event values")
        at = datetime.fromisoformat(raw["at"])
        if timezone.is_naive(at):
            raise BadEvent("a time without a zone")
        number = raw["n"]
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise BadEvent(f"bad source number {number!r}")
        source = raw["src"]
        if not isinstance(source, str) or not source or len(source) > 100:
            raise BadEvent(f"bad source {source!r}")
        public_id = str(uuid.UUID(str(raw["id"])))
    except BadEvent:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise BadEvent(f"not a spooled event: {exc}") from None
    return SpooledEvent(public_id, source, number, at, values, spool_id)


def peek_number(payload: str | bytes) -> tuple[str, int] | None:
    """(source, number) of a payload, or None when it has none (for ``verify_audit``)."""
    try:
        raw = json.loads(payload)
        source, number = raw["src"], raw["n"]
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(source, str) and isinstance(number, int):
        return source, number
    return None


class Numbering:
    """This process's name and counter. A forked child (Celery prefork) gets a new name, so two
    processes never hand out the same (source, number)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._pid = -1
        self._name = ""
        self._last = 0

    def _reset_if_forked(self) -> None:
        pid = os.getpid()
        if pid != self._pid:
            host = socket.gethostname()[:60] or "host"
            self._pid, self._name, self._last = pid, f"{host}:{pid}:{secrets.token_hex(4)}", 0

    @property
    def name(self) -> str:
        with self.lock:
            self._reset_if_forked()
            return self._name

    @property
    def last(self) -> int:
        """The highest number handed out so far (0: none)."""
        with self.lock:
            self._reset_if_forked()
            return self._last

    def next(self) -> tuple[str, int]:
        """A new number; call with ``lock`` held (the spool appends under it, so numbers enter
        the spool in order)."""
        self._reset_if_forked()
        self._last += 1
        return self._name, self._last


numbering = Numbering()
