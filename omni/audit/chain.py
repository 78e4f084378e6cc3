"""The hash chain: canonical form of an event, its hash, and walking the chain to verify it.

``hash = sha256(canonical JSON of HASHED_FIELDS)`` where the fields include ``prev_hash``, the
hash of the event with ``seq - 1`` (``GENESIS_HASH`` for the first). Editing any hashed field of a
row breaks its own hash; deleting a row leaves a gap in ``seq`` and a ``prev_hash`` that points at
nothing; deleting the last rows leaves the chain head ahead of the last event.

``source`` and ``source_seq`` (where a spooled event was numbered, see ``omni.audit.spool``) are
hashed only when set, so rows written before the spool existed keep their hashes.

``organization_id`` is deliberately not hashed: it becomes NULL when the organization is deleted
(the copied ``org_slug`` is hashed instead).

Retention (``omni.privacy.retention``) removes the oldest events, always a prefix of the chain,
and in the same transaction appends a checkpoint event (``CHECKPOINT_ACTION``) that names the last
removed ``seq`` and its hash. Verification starts after the latest checkpoint: the first remaining
event must link to that hash (``walk(..., start=...)``), and every later event is checked as before.
**Chain version 2** (every event written since data-subject erasure exists): the personal fields
(``PERSONAL_FIELDS``: actor name, target id and text, IP) are hashed through a salted digest each,
``personal[field] = sha256(salt + value)``, kept in the hashed ``personal`` column; the salts live in
``personal_salts``, which is not hashed. While a salt is there, verification recomputes the digest
from the value (an edited name is detected as before). Erasing a person drops the salt and replaces
the value with ``ERASED[field]``: the event keeps its place and its hash, and without the salt the
digest says nothing (it cannot be brute-forced over the small space of IPs or names). Version 1
events (written before) hash the values themselves and cannot be erased without breaking the chain.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from omni.audit.models import GENESIS_HASH, AuditChainHead, AuditEvent

CHECKPOINT_ACTION = "privacy.retention_checkpoint"

HASHED_FIELDS: tuple[str, ...] = (
    "public_id",
    "seq",
    "created_at",
    "org_slug",
    "actor_type",
    "actor_id",
    "actor_name",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "request_id",
    "ip",
    "data",
    "prev_hash",
)

# Chain version 2: these are hashed through ``personal`` (salted digests), not by value.
PERSONAL_FIELDS: tuple[str, ...] = ("actor_name", "target_id", "target_repr", "ip")
# What an erased personal field holds (the only values an erased field may hold).
ERASED: dict[str, str] = {"actor_name": "[erased]", "target_id": "", "target_repr": "[erased]", "ip": ""}
CURRENT_VERSION = 2


def clean_text(value: Any, limit: int | None = None) -> str:
    """A string the database stores exactly: no NUL, no lone surrogates, at most ``limit`` chars."""
    text = "" if value is None else str(value)
    text = text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    return text[:limit] if limit is not None else text


def jsonable(value: Any) -> Any:
    """``value`` as JSON that reads back from PostgreSQL's jsonb (and SQLite) exactly as written.

    jsonb rejects NUL characters and prints ``1e16`` as ``10000000000000000`` (an int once read
    back): integral floats become ints, non-finite floats and unknown types become strings.
    """
    if value is None or isinstance(value, bool | int | str):
        return clean_text(value) if isinstance(value, str) else value
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {clean_text(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [jsonable(item) for item in items]
    return clean_text(value)


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def personal_digest(salt: str, value: str) -> str:
    """sha256 of a personal field's value under its salt (hex)."""
    return hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()


def seal(event: AuditEvent) -> None:
    """Make a new (unsaved) event a version-2 event: a fresh salt and digest per personal field.
    Call before ``compute_hash``."""
    event.chain_version = CURRENT_VERSION
    salts = {name: secrets.token_hex(16) for name in PERSONAL_FIELDS}
    event.personal_salts = salts
    event.personal = {name: personal_digest(salts[name], getattr(event, name)) for name in PERSONAL_FIELDS}


def personal_problems(event: AuditEvent) -> list[str]:
    """The personal fields of a version-2 event that do not match their digest (edited), or that
    were erased (no salt) but hold something else than the erasure marker."""
    if getattr(event, "chain_version", 1) < 2:
        return []
    salts = event.personal_salts if isinstance(event.personal_salts, dict) else {}
    digests = event.personal if isinstance(event.personal, dict) else {}
    bad = []
    for name in PERSONAL_FIELDS:
        value = getattr(event, name)
        salt = salts.get(name)
        if salt:
            if personal_digest(salt, value) != digests.get(name):
                bad.append(name)
        elif value != ERASED[name]:
            bad.append(name)
    return bad


def canonical(event: AuditEvent) -> bytes:
    """The bytes that are hashed: the hashed fields as sorted, compact, UTF-8 JSON."""
    values: dict[str, Any] = {}
    version = getattr(event, "chain_version", 1) or 1
    for name in HASHED_FIELDS:
        if version >= 2 and name in PERSONAL_FIELDS:
            continue
        value = getattr(event, name)
        if name == "public_id":
            value = str(value)
        elif name == "created_at":
            value = _timestamp(value)
        values[name] = value
    if getattr(event, "source", ""):
        values["source"] = event.source
        values["source_seq"] = event.source_seq
    if version >= 2:
        values["chain_version"] = version
        values["personal"] = event.personal
    return json.dumps(
        values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(canonical(event)).hexdigest()


# --------------------------------------------------------------------------- verification
@dataclass(frozen=True)
class Problem:
    seq: int
    kind: str  # "edited", "broken_link", "gap", "head"
    message: str


@dataclass
class Verification:
    checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    first_seq: int | None = None
    last_seq: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_broken_seq(self) -> int | None:
        return min((p.seq for p in self.problems), default=None)


@dataclass(frozen=True)
class Checkpoint:
    """What the latest retention checkpoint event says: events up to ``through_seq`` were removed
    on purpose, the last of them had hash ``through_hash``; ``sources`` are the removed spooled
    events' numbers per source (ranges), so the spool check does not count them as lost."""

    event_seq: int
    through_seq: int
    through_hash: str
    removed_total: int = 0
    sources: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    @property
    def start(self) -> tuple[int, str]:
        return self.through_seq + 1, self.through_hash


def latest_checkpoint() -> Checkpoint | None:
    """The checkpoint with the highest ``seq`` (its own hash is checked by the walk, which starts
    before it), or None when no event was ever removed by retention."""
    event = AuditEvent.objects.filter(action=CHECKPOINT_ACTION).order_by("-seq").first()
    if event is None or not isinstance(event.data, dict):
        return None
    data = event.data
    sources = {
        str(name): [(int(a), int(b)) for a, b in ranges]
        for name, ranges in (data.get("sources") or {}).items()
    }
    return Checkpoint(
        event_seq=event.seq,
        through_seq=int(data["pruned_through_seq"]),
        through_hash=str(data["pruned_through_hash"]),
        removed_total=int(data.get("removed_total") or 0),
        sources=sources,
    )


def walk(
    events: Iterable[AuditEvent], head: AuditChainHead | None, start: tuple[int, str] | None = None
) -> Verification:
    """Verify ``events`` (the chain in ``seq`` order, from ``start``) against each other and the head.

    ``start`` is ``(first seq, hash the first event links to)``: ``(1, GENESIS_HASH)`` for the
    whole chain, ``Checkpoint.start`` after retention removed a prefix."""
    result = Verification()
    expected_seq, expected_prev = start or (1, GENESIS_HASH)
    for event in events:
        result.checked += 1
        if result.first_seq is None:
            result.first_seq = event.seq
        result.last_seq = event.seq
        if event.seq != expected_seq:
            missing = (
                f"{expected_seq}" if event.seq == expected_seq + 1 else f"{expected_seq}-{event.seq - 1}"
            )
            result.problems.append(
                Problem(event.seq, "gap", f"seq {missing} missing before seq {event.seq} (deleted?)")
            )
        elif event.prev_hash != expected_prev:
            result.problems.append(
                Problem(
                    event.seq, "broken_link", f"seq {event.seq}: prev_hash does not match seq {event.seq - 1}"
                )
            )
        if compute_hash(event) != event.hash:
            result.problems.append(
                Problem(event.seq, "edited", f"seq {event.seq}: content does not match its hash (edited?)")
            )
        else:
            bad = personal_problems(event)
            if bad:
                result.problems.append(
                    Problem(
                        event.seq,
                        "edited",
                        f"seq {event.seq}: {', '.join(bad)} does not match its digest (edited?)",
                    )
                )
        expected_seq, expected_prev = event.seq + 1, event.hash
    if head is not None and (head.last_seq != expected_seq - 1 or head.last_hash != expected_prev):
        last = expected_seq - 1
        result.problems.append(
            Problem(
                last + 1,
                "head",
                f"the chain head says seq {head.last_seq} is last, the table ends at seq {last} "
                "(events at the end deleted?)",
            )
        )
    return result


def chain_events(chunk_size: int = 2000, after_seq: int = 0) -> Iterator[AuditEvent]:
    """Every event (after ``after_seq``) in ``seq`` order, read in chunks (constant memory)."""
    events = AuditEvent.objects.order_by("seq")
    if after_seq:
        events = events.filter(seq__gt=after_seq)
    return events.iterator(chunk_size=chunk_size)


def relevant_to(result: Verification, org_seqs: list[int]) -> Verification:
    """Narrow a whole-chain result to one organization's events.

    Kept: edits of its rows, broken links from or into its rows, and every gap and deleted tail
    (the rows deleted there may have been its own: nobody can tell any more).
    """
    narrowed = Verification(checked=len(org_seqs))
    seqs = set(org_seqs)
    if seqs:
        narrowed.first_seq, narrowed.last_seq = min(seqs), max(seqs)
    for problem in result.problems:
        if problem.kind == "edited":
            keep = problem.seq in seqs
        elif problem.kind == "broken_link":
            keep = problem.seq in seqs or (problem.seq - 1) in seqs
        else:
            keep = True
        if keep:
            narrowed.problems.append(problem)
    return narrowed
