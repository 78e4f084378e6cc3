"""Prometheus families of the downstream server status, for /metrics (mmetrics registers
``collect`` with ``omni.monitoring.metrics.register_collector``).

Labelled by server name (and the organization slug, or "global", only with METRICS_ORG_LABEL: one
series per organization is the operator's choice). Read at scrape time from ``ServerStatus`` (one
query) and this process's breaker view."""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from prometheus_client.core import GaugeMetricFamily

from omni.monitoring.models.status import STATES, ServerStatus


def collect() -> Iterator[GaugeMetricFamily]:
    from omni.gateway import breaker

    with_org = bool(getattr(settings, "METRICS_ORG_LABEL", False))
    labels = ["server", "organization"] if with_org else ["server"]
    up = GaugeMetricFamily("omni_downstream_up", "1 when the server answered its last check", labels=labels)
    state = GaugeMetricFamily(
        "omni_downstream_state", "1 for the server's current state", labels=[*labels, "state"]
    )
    latency = GaugeMetricFamily(
        "omni_downstream_probe_latency_seconds", "Latency of the server's last status check", labels=labels
    )
    open_ = GaugeMetricFamily(
        "omni_downstream_breaker_open", "1 while the server's circuit breaker is open", labels=labels
    )
    # The platform's own view across organizations (a scrape is an operator's request).
    rows = ServerStatus.objects.select_related("connection", "organization").filter(connection__enabled=True)
    for row in rows:
        values = [row.connection.name]
        if with_org:
            values.append(row.organization.slug if row.organization_id else "global")
        up.add_metric(values, 1.0 if row.state in ("up", "degraded") else 0.0)
        for name, _label in STATES:
            state.add_metric([*values, name], 1.0 if row.state == name else 0.0)
        if row.latency_ms is not None:
            latency.add_metric(values, row.latency_ms / 1000.0)
        is_open = row.breaker_open or breaker.is_open(row.connection_id)
        open_.add_metric(values, 1.0 if is_open else 0.0)
    yield up
    yield state
    yield latency
    yield open_
