"""The metrics that processes record as things happen (the scrape-time ones are in ``scrape.py``).

With ``PROMETHEUS_MULTIPROC_DIR`` set in the environment (before this module is imported) every
process writes its samples to its own files in that directory and a scrape sums them: correct
across web processes and Celery workers on one machine. Without it (the embedded default) they
live in this process's memory.

Names and labels follow the OpenTelemetry semantic conventions for MCP, translated the way the
Prometheus exporter does (dots become underscores, the unit a suffix): the histogram
``mcp.server.operation.duration`` (seconds) is ``mcp_server_operation_duration_seconds`` with
``mcp_method_name``, ``gen_ai_tool_name``, ``gen_ai_prompt_name`` and ``error_type``; its
``_count`` is the request count. Ours are prefixed ``omni_``.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# The semantic conventions' advice for mcp.*.operation.duration.
MCP_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

MCP_LABELS = (
    "mcp_method_name",
    "gen_ai_tool_name",
    "gen_ai_prompt_name",
    "error_type",
    "omni_outcome",
    "omni_server",
    "omni_transport",
    "omni_org",  # "" unless METRICS_ORG_LABEL
)

mcp_operation_duration = Histogram(
    "mcp_server_operation_duration_seconds",
    "MCP request duration as observed by the gateway, from arrival to answer (mcp.server.operation.duration)",
    MCP_LABELS,
    buckets=MCP_BUCKETS,
)
gateway_refusals = Counter(
    "omni_gateway_refusals_total",
    "MCP requests refused before any work (rate limit, quota), by reason and the limit reached",
    ("reason", "limit", "mcp_method_name", "omni_org"),
)
django_requests = Counter(
    "django_http_requests_total",
    "Requests answered by Django (UI, REST API, health), by view, method and status",
    ("view", "method", "status"),
)
django_request_duration = Histogram(
    "django_http_request_duration_seconds",
    "Latency of requests answered by Django, by view and method",
    ("view", "method"),
    buckets=HTTP_BUCKETS,
)
celery_tasks = Counter(
    "omni_celery_tasks_total",
    "Celery tasks finished in this deployment's workers (and eagerly in web processes), by task and state",
    ("task", "state"),
)
celery_task_duration = Histogram(
    "omni_celery_task_duration_seconds",
    "Run time of Celery tasks, by task",
    ("task",),
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0),
)
