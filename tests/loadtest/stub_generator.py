"""A stand-in for ``omni.loadtest.generator.run_shard`` that needs no server: it "measures" a
deterministic stream of latencies (from the spec's seed and the shard's index) for the spec's
duration, one every ``stub_interval_s`` seconds, honouring ``on_tick`` and ``is_cancelled`` like the
real generator must. Tests of the execution machinery (phases, workers, cancel) use it through
``LOADTEST_GENERATOR=tests.loadtest.stub_generator.run_shard``; ``stub_raise`` in the spec makes it
fail. It keeps every latency as a sample, so tests can rebuild the union of the shards' samples.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
from typing import Any

from omni.loadtest import hdr


async def run_shard(spec: dict[str, Any], *, on_tick=None, is_cancelled=None) -> dict[str, Any]:
    if spec.get("stub_raise"):
        raise RuntimeError(spec["stub_raise"])
    rng = random.Random(int(spec.get("seed", 0)) * 1000 + int(spec.get("index", 0)))
    labels = [op["label"] for op in spec.get("operations") or [{"label": "tools/list"}]]
    orgs = [e["org"] for e in spec.get("endpoints") or [{"org": "stub"}]]
    interval = float(spec.get("stub_interval_s", 0.01))
    duration = float(spec.get("duration_s", 1))
    ops = {label: {"count": 0, "errors": {}, "hist": hdr.new_histogram(), "samples": []} for label in labels}
    org_counts = {org: {"count": 0, "errors": {}, "hist": hdr.new_histogram()} for org in orgs}
    timeline: list[dict[str, Any]] = []
    started = time.time()
    cancelled = False
    n = 0
    second = {"count": 0, "errors": 0, "hist": hdr.new_histogram()}
    for t in range(int(duration)):
        second = {"t": t, "count": 0, "errors": 0, "hist": hdr.new_histogram()}
        end = started + t + 1
        while time.time() < end:
            if is_cancelled is not None and is_cancelled():
                cancelled = True
                break
            latency = rng.randint(500, 20_000)
            op, org = ops[labels[n % len(labels)]], org_counts[orgs[n % len(orgs)]]
            for bucket in (op, org, second):
                bucket["count"] += 1
                hdr.record_us(bucket["hist"], latency)
            op["samples"].append(latency)
            if n % 50 == 49:  # one error in fifty
                op["errors"]["http_5xx"] = op["errors"].get("http_5xx", 0) + 1
                org["errors"]["http_5xx"] = org["errors"].get("http_5xx", 0) + 1
                second["errors"] += 1
            n += 1
            await asyncio.sleep(interval)
        timeline.append({**second, "hist": hdr.encode(second["hist"])})
        if on_tick is not None:
            summary = hdr.summary_ms(second["hist"])
            on_tick({"t": t, "count": second["count"], "errors": second["errors"], "p50": summary.get("p50"),
                     "p95": summary.get("p95"), "p99": summary.get("p99")})  # fmt: skip
        if cancelled:
            break
    return {
        "run": spec.get("run", ""),
        "phase": spec.get("phase", "main"),
        "index": int(spec.get("index", 0)),
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "started": started,
        "duration_s": round(time.time() - started, 3),
        "cancelled": cancelled,
        "operations": {k: {**v, "hist": hdr.encode(v["hist"])} for k, v in ops.items()},
        "orgs": {k: {**v, "hist": hdr.encode(v["hist"])} for k, v in org_counts.items()},
        "timeline": timeline,
        "generator": {"cpu_s": time.process_time(), "lag_ms": 0.0},
    }
