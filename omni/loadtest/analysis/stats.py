"""The statistics behind a comparison: latency samples, the Mann-Whitney U test, Cliff's delta and
seeded bootstrap confidence intervals of percentile differences.

Everything here is bounded: at most ``MAX_SAMPLES`` latencies per side enter a test (a larger input
is subsampled with the same seeded generator) and a bootstrap draws ``BOOTSTRAP_RESAMPLES``
resamples in chunks, so a comparison costs the same whatever the size of the runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import mannwhitneyu

from omni.loadtest import hdr

MAX_SAMPLES = 4000  # per side of a test
MIN_SAMPLES = 20  # fewer latencies than this on a side: no statistical verdict
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_CHUNK = 100
CONFIDENCE = 0.95
SEED = 20260728


def rng(seed: int | None = None) -> np.random.Generator:
    return np.random.default_rng(SEED if seed is None else seed)


def latencies_us(section: dict[str, Any], generator: np.random.Generator) -> np.ndarray:
    """The latency sample (µs) of one report section (an operation, an organization): its reservoir
    ``samples`` when it has them, else values drawn from its HDR histogram ``hist`` (every recorded
    value with its count, subsampled to ``MAX_SAMPLES``)."""
    samples = section.get("samples") or []
    if samples:
        values = np.asarray(samples, dtype=np.float64)
    else:
        values = histogram_values(section.get("hist") or "")
    if values.size > MAX_SAMPLES:
        values = generator.choice(values, size=MAX_SAMPLES, replace=False)
    return values


def histogram_values(encoded: str, limit: int = 200_000) -> np.ndarray:
    """The values of an encoded HDR histogram, each repeated by its count (at most ``limit`` of
    them, proportionally thinned when the histogram holds more)."""
    if not encoded:
        return np.empty(0)
    histogram = hdr.decode(encoded)
    total = histogram.get_total_count()
    if not total:
        return np.empty(0)
    scale = min(1.0, limit / total)
    values: list[float] = []
    counts: list[int] = []
    for item in histogram.get_recorded_iterator():
        values.append(float(histogram.get_highest_equivalent_value(item.value_iterated_to)))
        counts.append(max(1, round(item.count_at_value_iterated_to * scale)))
    return np.repeat(np.asarray(values), np.asarray(counts))


@dataclass(frozen=True)
class RankTest:
    u: float  # Mann-Whitney U of "current" against "baseline"
    p_value: float  # two-sided
    common_language: float  # P(current > baseline) + ½ P(tie)
    cliffs_delta: float  # P(current > baseline) − P(current < baseline), in [-1, 1]

    @property
    def magnitude(self) -> str:
        return cliffs_magnitude(self.cliffs_delta)


def rank_test(baseline: np.ndarray, current: np.ndarray) -> RankTest:
    """Mann-Whitney U (two-sided) of ``current`` against ``baseline``, with its effect sizes."""
    result = mannwhitneyu(current, baseline, alternative="two-sided")
    u = float(result.statistic)
    common = u / (current.size * baseline.size)
    p_value = float(result.pvalue)
    if np.isnan(p_value):  # every value identical on both sides
        p_value = 1.0
    return RankTest(u, p_value, common, 2.0 * common - 1.0)


def cliffs_magnitude(delta: float) -> str:
    """Romano et al.'s bands for |Cliff's delta|."""
    size = abs(delta)
    if size < 0.147:
        return "negligible"
    if size < 0.33:
        return "small"
    if size < 0.474:
        return "medium"
    return "large"


def percentile(values: np.ndarray, pct: float) -> float:
    return float(np.percentile(values, pct, method="inverted_cdf"))


def bootstrap_differences(
    baseline: np.ndarray,
    current: np.ndarray,
    percentiles: Sequence[float],
    generator: np.random.Generator,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> dict[float, tuple[float, float]]:
    """Percentile bootstrap confidence intervals of ``percentile(current) − percentile(baseline)``
    for each of ``percentiles`` (same units as the inputs): both sides resampled with replacement,
    ``resamples`` times, in chunks (bounded memory)."""
    diffs = {pct: [] for pct in percentiles}
    done = 0
    while done < resamples:
        size = min(BOOTSTRAP_CHUNK, resamples - done)
        base = baseline[generator.integers(0, baseline.size, (size, baseline.size))]
        curr = current[generator.integers(0, current.size, (size, current.size))]
        base_q = np.percentile(base, list(percentiles), axis=1, method="inverted_cdf")
        curr_q = np.percentile(curr, list(percentiles), axis=1, method="inverted_cdf")
        for row, pct in enumerate(percentiles):
            diffs[pct].append(curr_q[row] - base_q[row])
        done += size
    tail = (1.0 - confidence) / 2.0 * 100.0
    out: dict[float, tuple[float, float]] = {}
    for pct, chunks in diffs.items():
        values = np.concatenate(chunks)
        out[pct] = (float(np.percentile(values, tail)), float(np.percentile(values, 100.0 - tail)))
    return out


def change_pct(baseline: float | None, current: float | None) -> float | None:
    """Relative change in % (None when the baseline is 0 or missing)."""
    if baseline is None or current is None or not baseline:
        return None
    return round((current - baseline) / baseline * 100.0, 2)
