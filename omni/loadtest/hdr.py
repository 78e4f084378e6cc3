"""HDR histograms of latencies (the ``hdrhistogram`` package), in microseconds.

Every histogram the load tester keeps is made by ``new_histogram`` (same range and precision), so
histograms of shards, seconds and organizations merge exactly: ``merge([...])`` of encoded
histograms equals the histogram of the union of their samples.
"""

from __future__ import annotations

from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_DIGITS = 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def record_us(histogram: HdrHistogram, microseconds: float) -> None:
    """Record one latency; values outside the range are clamped to it (never dropped)."""
    histogram.record_value(min(max(int(microseconds), LOWEST_US), HIGHEST_US))


def encode(histogram: HdrHistogram) -> str:
    """The compressed, base64 form (ASCII text, safe in JSON)."""
    return histogram.encode().decode("ascii")


def decode(text: str) -> HdrHistogram:
    histogram = new_histogram()
    if text:
        histogram.decode_and_add(text)
    return histogram


def merge(encoded: Iterable[str]) -> HdrHistogram:
    """One histogram holding every sample of ``encoded`` (exact)."""
    total = new_histogram()
    for text in encoded:
        if text:
            total.decode_and_add(text)
    return total


PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)


def summary_ms(histogram: HdrHistogram) -> dict[str, float | int]:
    """count, min, mean, p50, p90, p95, p99, p99.9 and max, in milliseconds."""
    count = histogram.get_total_count()
    if not count:
        return {"count": 0}
    out: dict[str, float | int] = {
        "count": count,
        "min": histogram.get_min_value() / 1000,
        "mean": round(histogram.get_mean_value() / 1000, 3),
        "max": histogram.get_max_value() / 1000,
    }
    for pct in PERCENTILES:
        key = "p" + (f"{pct:g}".replace(".", "_") if pct % 1 else str(int(pct)))
        out[key] = histogram.get_value_at_percentile(pct) / 1000
    return out
