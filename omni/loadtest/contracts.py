"""The two documents every part of the load tester agrees on: what a shard is told to do
(``ShardSpec``) and what it reports (``ShardResult``). Both are plain JSON (stored in
``LoadShard.spec``/``result``, sent through Celery), described here as TypedDicts.

Who makes and reads them:

- ``omni.loadtest.planning.plan_shards(run)`` turns a run's validated profile into ShardSpecs
  (resolving targets, credentials, signing and the share of the load of each shard);
- ``omni.loadtest.generator.run_shard(spec, ...)`` executes one (asyncio) and returns a ShardResult;
- ``omni.loadtest.execution`` runs shards (Celery task ``omni.loadtest.tasks.run_shard`` or a thread
  of the web process), stores results, publishes live ticks and merges shards into the run report;
- ``omni.loadtest.analysis`` compares reports with baselines, checks thresholds, computes fairness,
  overhead and the stress knee.

Latencies are in microseconds inside histograms (``omni.loadtest.hdr``: encoded HdrHistograms,
mergeable exactly) and in milliseconds in summaries.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

# ---------------------------------------------------------------------------- what a shard does

Mode = Literal["2026-07-28", "handshake", "sse"]
# 2026-07-28: each POST /mcp stands alone (no initialize, no session);
# handshake: each virtual user initializes once (protocol "2025-11-25" unless `revision` says
# otherwise), keeps its Mcp-Session-Id, and DELETEs it at the end;
# sse: each virtual user opens GET /sse and POSTs to the endpoint it announces (2024-11-05).


class Operation(TypedDict):
    """One entry of the weighted mix. ``label`` names it in reports (unique within a profile)."""

    label: str
    kind: Literal[
        "tools/call",
        "tools/list",
        "prompts/get",
        "prompts/list",
        "resources/read",
        "resources/list",
        "scenario",
    ]
    weight: float
    name: NotRequired[str]  # tools/call: the tool; prompts/get: the prompt
    arguments: NotRequired[
        dict[str, Any]
    ]  # templates: "{{ faker.word }}", "{{ random.int(1, 100) }}", "{{ vu }}", "{{ seq }}"
    uri: NotRequired[str]  # resources/read (a template as above)
    steps: NotRequired[
        list[dict[str, Any]]
    ]  # scenario: [{"operation": kind, "params": {...}, "save": {...}}]


class Arrival(TypedDict):
    """closed: ``users`` virtual users, each sending one request after the other with
    ``think_ms`` between. open: requests started at ``rate`` per second regardless of answers
    (bounded by ``max_in_flight``), shaped by ``shape``:
    constant (rate), ramp (from ``rate`` to ``rate_to`` over the duration), step (``steps``:
    [[seconds_from_start, rate], ...]), spike (``rate``, with ``spike_rate`` between
    ``spike_at_s`` and ``spike_at_s + spike_for_s``)."""

    model: Literal["closed", "open"]
    users: NotRequired[int]
    think_ms: NotRequired[float]
    rate: NotRequired[float]
    shape: NotRequired[Literal["constant", "ramp", "step", "spike"]]
    rate_to: NotRequired[float]
    steps: NotRequired[list[list[float]]]
    spike_rate: NotRequired[float]
    spike_at_s: NotRequired[float]
    spike_for_s: NotRequired[float]
    max_in_flight: NotRequired[int]


class Endpoint(TypedDict):
    """Where one organization's share of the load goes."""

    org: str  # the organization's slug (the key of per-organization results)
    url: str  # http://host:port/mcp (or /sse for mode "sse")
    headers: dict[str, str]  # e.g. {"Authorization": "Bearer <key>"}; never stored in reports
    weight: float  # share of the shard's load (normalised over the endpoints)
    # A registered server measured directly: the generator signs each request like the gateway
    # does (omni.gateway.signing) for this organization, and passes _meta {"io.omni/org": org}.
    sign: NotRequired[bool]
    meta: NotRequired[dict[str, Any]]
    # A built-in (in-process) server measured directly: the shard serves it on a loopback port
    # of its own for the duration of the run and ``url`` is filled in then.
    inprocess_server: NotRequired[str]


class ShardSpec(TypedDict):
    run: str  # the LoadRun's uuid
    phase: str  # "main" or "direct" (see LoadShard.phase)
    index: int  # 0..shards-1 within the phase
    shards: int
    mode: Mode
    revision: NotRequired[str]  # handshake mode: the protocol revision to initialize with
    endpoints: list[Endpoint]
    operations: list[Operation]
    arrival: Arrival  # this shard's share: users / rate already divided by the planner
    warmup_s: float  # sent but not measured
    duration_s: float  # measured
    timeout_s: float  # per request
    seed: int  # random generator seed (data, mix): same seed, same sequence
    samples: int  # how many raw latencies per operation to keep (reservoir) for statistics


# ---------------------------------------------------------------------------- what a shard reports


class Counts(TypedDict):
    """Measured requests of one operation (or organization, or second)."""

    count: int  # requests finished within the measured window (ok + errors)
    errors: dict[
        str, int
    ]  # kind -> count: "http_429", "http_5xx", "timeout", "connect", "jsonrpc_-32602", "tool_error", ...
    hist: (
        str  # omni.loadtest.hdr.encode(...) of the latencies (µs) of every finished request, errors included
    )


class OperationResult(Counts):
    samples: list[int]  # a uniform reservoir sample of the latencies in µs (at most spec.samples)


class Second(TypedDict):
    t: int  # seconds since the measured window started (0 = first second)
    count: int
    errors: int
    hist: str


class ShardResult(TypedDict):
    run: str
    phase: str
    index: int
    worker: str  # hostname:pid
    started: float  # unix time the measured window started
    duration_s: float  # how long it measured
    cancelled: bool
    operations: dict[str, OperationResult]  # by Operation.label
    orgs: dict[str, Counts]  # by Endpoint.org
    timeline: list[Second]
    # what the generator itself cost: CPU seconds of its process during the window, and how late
    # open-model requests started behind their schedule (a generator that cannot keep up says so)
    generator: dict[str, float]


# ---------------------------------------------------------------------------- the merged report


class Report(TypedDict, total=False):
    """``LoadRun.report``: every shard merged (``omni.loadtest.execution.merge``)."""

    requests: int
    errors: int
    duration_s: float
    throughput: float  # requests/s over the measured window
    error_rate: float  # errors / requests
    latency_ms: dict[str, float | int]  # hdr.summary_ms of every request
    operations: dict[
        str, dict[str, Any]
    ]  # label -> {count, errors, throughput, error_rate, latency_ms, hist, samples}
    orgs: dict[str, dict[str, Any]]  # slug -> {count, errors, throughput, error_rate, latency_ms, hist}
    timeline: list[dict[str, Any]]  # [{t, count, errors, p50, p95, p99}] per second
    errors_by_kind: dict[str, int]
    shards: list[dict[str, Any]]  # [{index, worker, requests, cpu_s, lag_ms}]
    fairness: dict[str, Any]  # analysis.fairness (multi-tenant runs)
    overhead: dict[str, Any]  # analysis.overhead (runs that measured the direct target too)
    knee: dict[str, Any]  # analysis.knee (stress runs)
    thresholds: list[dict[str, Any]]  # analysis.check_thresholds
    direct: dict[str, Any]  # the "direct" phase's own Report (without "direct"), when measured
