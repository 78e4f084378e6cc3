"""Finding spooled events that never arrived (``verify_audit``'s spool check).

Every spooled event is numbered by its process (``source``, ``source_seq`` from 1), and each process
reports how far its counter went (``AuditSource.spooled``). A number from 1 up to the highest one
known that is neither in the table, nor in the dead letters, nor still waiting in the spool, is a
lost event: dropped from the spool (a Redis restart without persistence, a deleted spool file or
stream entry) or deleted from the table.

The order of reading avoids false alarms while writers run: first the bounds (the highest number
known per source), then what waits in the spool, then the table. A process spools its events in
number order, so every number up to a bound was in the spool before the bound was read; by the
time the table is read it is either still in the spool (seen in step 2) or written (seen in
step 3). Only the spool of this machine's files and of Redis is visible: spool files of another
machine show up as missing until they are written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.db.models import Max

from omni.audit.models import AuditDeadLetter, AuditEvent, AuditSource


@dataclass
class SourceReport:
    sources: int = 0
    expected: int = 0  # numbers 1..bound over every source
    written: int = 0
    pending: int = 0
    dead: int = 0
    lost: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # source -> ranges

    @property
    def lost_count(self) -> int:
        return sum(end - start + 1 for ranges in self.lost.values() for start, end in ranges)


def _bounds() -> dict[str, int]:
    bounds = dict(AuditSource.objects.values_list("name", "spooled"))
    for model in (AuditEvent, AuditDeadLetter):
        rows = (
            model.objects.exclude(source="")
            .filter(source_seq__isnull=False)
            .values("source")
            .annotate(top=Max("source_seq"))
            .order_by()
        )
        for row in rows:
            bounds[row["source"]] = max(bounds.get(row["source"], 0), row["top"])
    return bounds


def _numbers(model: type, bounds: dict[str, int]) -> Iterator[tuple[str, int]]:
    rows = (
        model.objects.exclude(source="")
        .filter(source_seq__isnull=False)
        .order_by("source", "source_seq")
        .values_list("source", "source_seq")
    )
    for source, number in rows.iterator(chunk_size=5000):
        if number <= bounds.get(source, 0):
            yield source, number


def _ranges_without(start: int, end: int, skip: list[int]) -> Iterable[tuple[int, int]]:
    """[start, end] minus the sorted numbers in ``skip``, as ranges."""
    for number in skip:
        if number < start or number > end:
            continue
        if number > start:
            yield start, number - 1
        start = number + 1
    if start <= end:
        yield start, end


def verify_sources(
    read_pending: Callable[[], dict[str, set[int]]],
    removed: dict[str, list[tuple[int, int]]] | None = None,
) -> SourceReport:
    """The spool check. ``read_pending()`` returns source → numbers still in the spool; ``removed``
    (source → ranges) are numbers whose events retention deleted on purpose (the checkpoint's)."""
    report = SourceReport()
    bounds = _bounds()  # 1. the bounds
    pending = read_pending()  # 2. what waits in the spool
    report.sources = len(bounds)
    report.expected = sum(bounds.values())
    present: dict[str, list[int]] = {}
    for model, counter in ((AuditEvent, "written"), (AuditDeadLetter, "dead")):  # 3. the table
        for source, number in _numbers(model, bounds):
            present.setdefault(source, []).append(number)
            setattr(report, counter, getattr(report, counter) + 1)
    for source, bound in sorted(bounds.items()):
        waiting = {n for n in pending.get(source, set()) if n <= bound}
        report.pending += len(waiting - set(present.get(source, [])))
        pruned = {n for a, b in (removed or {}).get(source, []) for n in range(a, min(b, bound) + 1)}
        have = sorted(set(present.get(source, [])) | waiting | pruned)
        missing = list(_ranges_without(1, bound, have))
        if missing:
            report.lost[source] = missing
    return report


def describe(ranges: list[tuple[int, int]], limit: int = 10) -> str:
    parts = [f"{start}" if start == end else f"{start}-{end}" for start, end in ranges[:limit]]
    if len(ranges) > limit:
        parts.append(f"… ({len(ranges) - limit} more ranges)")
    return ", ".join(parts)
