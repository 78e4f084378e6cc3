"""merge(): shard results built from known samples merge exactly (histograms, seconds, orgs)."""

from __future__ import annotations

import random

from omni.loadtest import hdr
from omni.loadtest.execution import merge
from omni.loadtest.merging import merge_samples


def _hist(values):
    histogram = hdr.new_histogram()
    for value in values:
        hdr.record_us(histogram, value)
    return histogram


def _shard(index, started, samples_by_op, org_of, errors_by_op=None, per_second=None):
    """A ShardResult from raw latencies: ``samples_by_op`` label -> [(second, µs), ...]."""
    errors_by_op = errors_by_op or {}
    operations, orgs, seconds = {}, {}, {}
    for label, items in samples_by_op.items():
        values = [v for _, v in items]
        operations[label] = {
            "count": len(values),
            "errors": errors_by_op.get(label, {}),
            "hist": hdr.encode(_hist(values)),
            "samples": values,
        }
        for second, value in items:
            seconds.setdefault(second, []).append(value)
        org = org_of[label]
        orgs.setdefault(org, []).extend(values)
    return {
        "run": "r",
        "phase": "main",
        "index": index,
        "worker": f"host-{index}:1",
        "started": started,
        "duration_s": 3.0,
        "cancelled": False,
        "operations": operations,
        "orgs": {
            slug: {"count": len(v), "errors": {}, "hist": hdr.encode(_hist(v))} for slug, v in orgs.items()
        },
        "timeline": [
            {
                "t": t,
                "count": len(v),
                "errors": (per_second or {}).get((index, t), 0),
                "hist": hdr.encode(_hist(v)),
            }
            for t, v in sorted(seconds.items())
        ],
        "generator": {"cpu_s": 0.5 + index, "lag_ms": 1.0},
    }


def _data(seed):
    rng = random.Random(seed)
    return {
        "call": [(rng.randrange(3), rng.randint(200, 90_000)) for _ in range(700)],
        "list": [(rng.randrange(3), rng.randint(100, 5_000)) for _ in range(300)],
    }


def test_merged_histograms_equal_the_histogram_of_the_union():
    a, b = _data(1), _data(2)
    org_of = {"call": "acme", "list": "globex"}
    report = merge(
        [
            _shard(0, 1000.0, a, org_of, {"call": {"timeout": 2, "http_5xx": 1}}, {(0, 1): 3}),
            _shard(1, 1000.0, b, org_of, {"call": {"timeout": 1}, "list": {"http_429": 4}}),
        ],
        sample_limit=10_000,
    )
    union = {label: [v for _, v in a[label] + b[label]] for label in a}
    everything = union["call"] + union["list"]
    assert report["requests"] == 2000
    assert report["errors"] == 8
    assert report["errors_by_kind"] == {"http_429": 4, "http_5xx": 1, "timeout": 3}
    assert report["duration_s"] == 3.0
    assert report["throughput"] == round(2000 / 3.0, 3)
    assert report["latency_ms"] == hdr.summary_ms(_hist(everything))
    for label in ("call", "list"):
        op = report["operations"][label]
        assert op["count"] == len(union[label])
        assert op["hist"] == hdr.encode(_hist(union[label]))
        assert op["latency_ms"] == hdr.summary_ms(_hist(union[label]))
        assert sorted(op["samples"]) == sorted(union[label])  # under the limit: every sample
    assert report["operations"]["call"]["errors"] == 4
    assert report["operations"]["list"]["error_rate"] == round(4 / 600, 6)
    # per organization
    assert report["orgs"]["acme"]["count"] == 1400
    assert report["orgs"]["acme"]["latency_ms"] == hdr.summary_ms(_hist(union["call"]))
    assert report["orgs"]["globex"]["hist"] == hdr.encode(_hist(union["list"]))
    # per second, both shards on the same clock
    for second in report["timeline"]:
        values = [v for items in (a, b) for label in items for t, v in items[label] if t == second["t"]]
        summary = hdr.summary_ms(_hist(values))
        assert second["count"] == len(values)
        assert (second["p50"], second["p95"], second["p99"]) == (
            summary["p50"],
            summary["p95"],
            summary["p99"],
        )
    assert [s["t"] for s in report["timeline"]] == [0, 1, 2]
    assert report["timeline"][1]["errors"] == 3
    assert [(s["index"], s["worker"], s["cpu_s"]) for s in report["shards"]] == [
        (0, "host-0:1", 0.5),
        (1, "host-1:1", 1.5),
    ]


def test_shards_that_started_apart_share_one_clock_and_window():
    a, b = _data(3), _data(4)
    org_of = {"call": "acme", "list": "acme"}
    report = merge([_shard(0, 1000.0, a, org_of), _shard(1, 1002.0, b, org_of)], sample_limit=10_000)
    assert report["duration_s"] == 5.0  # from the first start to the last end
    by_t = {s["t"]: s["count"] for s in report["timeline"]}
    a_t = {t: sum(1 for items in a.values() for s, _ in items if s == t) for t in range(3)}
    b_t = {t: sum(1 for items in b.values() for s, _ in items if s == t) for t in range(3)}
    assert by_t == {0: a_t[0], 1: a_t[1], 2: a_t[2] + b_t[0], 3: b_t[1], 4: b_t[2]}


def test_merged_samples_are_proportional_to_requests_not_to_reservoirs():
    # shard A measured 9000 requests and kept 1000 samples, shard B measured 1000 and kept all
    a = (9000, [1] * 1000)
    b = (1000, [2] * 1000)
    merged = merge_samples([a, b], limit=5000)
    assert (merged.count(1), merged.count(2)) == (1000, 111)  # 9:1 up to rounding
    assert len(merged) <= 5000
    assert merge_samples([(10, [5] * 10)], limit=4) == [5] * 4


def test_empty_and_cancelled():
    assert merge([], sample_limit=10)["requests"] == 0
    shard = _shard(0, 1000.0, _data(5), {"call": "x", "list": "x"})
    shard["cancelled"] = True
    assert merge([shard], sample_limit=10)["cancelled"] is True
