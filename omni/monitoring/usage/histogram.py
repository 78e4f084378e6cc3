"""Fixed latency buckets shared by the counters, the rollup tables and the queries.

Sixteen upper bounds (seconds) from 1 ms to 60 s plus overflow: enough for p50/p95/p99 estimates
within a bucket's width (the estimate interpolates linearly inside the bucket it falls in).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

BOUNDS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, float("inf"),
)  # fmt: skip
SIZE = len(BOUNDS)
FIELDS: tuple[str, ...] = tuple(f"h{i:02d}" for i in range(SIZE))


def index(seconds: float) -> int:
    """The bucket of a duration (the first upper bound at or above it)."""
    return min(bisect_left(BOUNDS, seconds), SIZE - 1)


def quantile(counts: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0..1) in seconds estimated from bucket ``counts``; None when empty."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            lower = BOUNDS[i - 1] if i else 0.0
            upper = BOUNDS[i]
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * max(rank - seen, 0) / count
        seen += count
    return BOUNDS[-2]
