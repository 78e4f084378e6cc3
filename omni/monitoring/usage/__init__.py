"""Usage analytics of real MCP traffic (docs/monitoring.md, "Usage analytics").

``counters`` aggregates the gateway's RequestRecords in process memory (no I/O on the request
path) and a background flusher pushes them to the minute store (``store``: Redis hashes, or this
process's memory in the embedded default); the ``rollup`` task moves minute buckets into the
per-minute, per-hour and per-day tables; ``query`` reads them (``window_stats`` for alerts, the
dashboard's figures); ``views`` are the dashboards and their CSV.
"""


def setup() -> None:
    """Subscribe the usage counters to the gateway's request records; register the task."""
    from omni.gateway import observe
    from omni.monitoring.usage import counters, tasks  # noqa: F401

    observe.subscribe(counters.record)
