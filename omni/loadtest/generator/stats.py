"""What a shard measures: per operation, per organization and per second, into HDR histograms
(``omni.loadtest.hdr``), plus a uniform reservoir of raw latencies per operation.

A request counts when it *finishes* inside the measured window ``[start, end)``; its second in the
timeline is the one it finished in. Scenario totals (``scenario=True``) are recorded per operation
only: every HTTP request is in the timeline and the organizations exactly once.
"""

from __future__ import annotations

import math
import random
from typing import Any

from omni.loadtest import hdr


class Bucket:
    __slots__ = ("count", "errors", "hist")

    def __init__(self) -> None:
        self.count = 0
        self.errors: dict[str, int] = {}
        self.hist = hdr.new_histogram()

    def add(self, latency_us: float, kind: str | None) -> None:
        self.count += 1
        if kind is not None:
            self.errors[kind] = self.errors.get(kind, 0) + 1
        hdr.record_us(self.hist, latency_us)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_counts(self) -> dict[str, Any]:
        return {"count": self.count, "errors": dict(self.errors), "hist": hdr.encode(self.hist)}


class Reservoir:
    """Algorithm R: a uniform sample of at most ``size`` of the values offered."""

    __slots__ = ("size", "seen", "values", "rng")

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size, self.seen, self.values, self.rng = size, 0, [], rng

    def offer(self, value: int) -> None:
        self.seen += 1
        if len(self.values) < self.size:
            self.values.append(value)
        elif self.size:
            slot = self.rng.randrange(self.seen)
            if slot < self.size:
                self.values[slot] = value


class Recorder:
    def __init__(self, *, window_start: float, duration_s: float, samples: int, seed: int) -> None:
        self.window_start = window_start
        self.window_end = window_start + duration_s
        self.seconds = max(1, math.ceil(duration_s))
        self.samples = samples
        self.rng = random.Random(seed ^ 0x5EED)
        self.operations: dict[str, Bucket] = {}
        self.reservoirs: dict[str, Reservoir] = {}
        self.scenario_labels: set[str] = set()
        self.orgs: dict[str, Bucket] = {}
        self.timeline: list[Bucket] = [Bucket() for _ in range(self.seconds)]
        self.lag = hdr.new_histogram()
        self.lag_count = 0
        self.dropped = 0

    def declare(self, label: str, *, scenario: bool = False) -> None:
        """Every operation is reported, even one that never finished in the window."""
        self.operations.setdefault(label, Bucket())
        self.reservoirs.setdefault(label, Reservoir(self.samples, self.rng))
        if scenario:
            self.scenario_labels.add(label)

    def declare_org(self, org: str) -> None:
        self.orgs.setdefault(org, Bucket())

    def measured(self, at: float) -> bool:
        return self.window_start <= at < self.window_end

    def record(
        self, label: str, org: str, started: float, ended: float, kind: str | None, *, request: bool = True
    ) -> None:
        if not (self.window_start <= ended < self.window_end):
            return
        latency_us = (ended - started) * 1e6
        if label not in self.operations:
            self.declare(label)
        self.operations[label].add(latency_us, kind)
        self.reservoirs[label].offer(max(1, int(latency_us)))
        if not request:
            return
        if org not in self.orgs:
            self.declare_org(org)
        self.orgs[org].add(latency_us, kind)
        second = min(int(ended - self.window_start), self.seconds - 1)
        self.timeline[second].add(latency_us, kind)

    def record_lag(self, at: float, lag_s: float) -> None:
        if self.window_start <= at < self.window_end:
            self.lag_count += 1
            hdr.record_us(self.lag, max(lag_s, 0.0) * 1e6)

    def drop(self, at: float) -> None:
        if self.window_start <= at < self.window_end:
            self.dropped += 1

    # ------------------------------------------------------------------ reports
    def tick(self, second: int) -> dict[str, Any]:
        """The live figures of one measured second (milliseconds)."""
        bucket = self.timeline[second]
        out: dict[str, Any] = {"t": second, "count": bucket.count, "errors": bucket.error_count}
        for name, pct in (("p50", 50.0), ("p95", 95.0), ("p99", 99.0)):
            out[name] = bucket.hist.get_value_at_percentile(pct) / 1000 if bucket.count else None
        return out

    def result_parts(self, measured_s: float) -> dict[str, Any]:
        seconds = self.timeline[: max(1, math.ceil(measured_s))] if measured_s > 0 else []
        operations = {}
        for label, bucket in self.operations.items():
            entry: dict[str, Any] = {**bucket.as_counts(), "samples": list(self.reservoirs[label].values)}
            if label in self.scenario_labels:
                entry["scenario"] = True
            operations[label] = entry
        return {
            "operations": operations,
            "orgs": {org: bucket.as_counts() for org, bucket in self.orgs.items()},
            "timeline": [
                {"t": t, "count": b.count, "errors": b.error_count, "hist": hdr.encode(b.hist)}
                for t, b in enumerate(seconds)
            ],
        }

    def lag_ms_p99(self) -> float:
        return self.lag.get_value_at_percentile(99.0) / 1000 if self.lag_count else 0.0
