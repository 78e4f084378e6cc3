"""OpenTelemetry tracing, configured from the standard ``OTEL_*`` environment variables.

Off by default: tracing starts only when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``,
``console``; comma-separated for several) or ``OTEL_EXPORTER_OTLP_ENDPOINT`` /
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set (then ``otlp``), and never when
``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``. While off nothing is imported beyond
the API the ``mcp`` SDK already uses, and every span site is a no-op.

When on (``setup``): an SDK ``TracerProvider`` (sampler from ``OTEL_TRACES_SAMPLER`` /
``OTEL_TRACES_SAMPLER_ARG``, resource from ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``,
default service name ``omni-mcp``) with a batch span processor per exporter (``OTEL_BSP_*``); OTLP
is ``http/protobuf`` (``OTEL_EXPORTER_OTLP_*`` as the exporter reads them). Spans then come from:

* the gateway (``omni.gateway.tracing``): the HTTP request (continuing the caller's W3C
  ``traceparent``), authentication, the rate-limit check, the forward to a downstream server;
* the ``mcp`` SDK: a SERVER span per MCP message in the gateway and in every built-in server, a
  CLIENT span per request the gateway sends downstream (trace context in ``params._meta``);
* Redis commands (opentelemetry-instrumentation-redis) and SQL statements (``db.py``: a Django
  execute wrapper on every new database connection).
"""

from __future__ import annotations

import logging
import os
from typing import Any

logger = logging.getLogger(__name__)

_provider: Any = None
EXPORTERS = ("otlp", "console")


def requested_exporters(environ: dict[str, str] | None = None) -> list[str]:
    """The exporters the environment asks for ([] = tracing off). Raises ValueError for an
    exporter name this deployment does not have (a typo must not silently disable tracing)."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    raw = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not raw:
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        return ["otlp"] if endpoint else []
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if names == ["none"]:
        return []
    unknown = [name for name in names if name not in EXPORTERS]
    if unknown:
        raise ValueError(
            f"OTEL_TRACES_EXPORTER={raw!r}: unknown exporter {', '.join(unknown)} (use otlp, console or none)"
        )
    return names


def enabled() -> bool:
    return _provider is not None


def _exporter(name: str) -> Any:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def setup() -> bool:
    """Configure tracing for this process if the environment asks for it; True when on."""
    global _provider
    if _provider is not None:
        return True
    names = requested_exporters()
    if not names:
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: "omni-mcp"}
    provider = TracerProvider(resource=Resource.create(attributes))
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    trace.set_tracer_provider(provider)
    _provider = provider

    from omni.gateway import tracing as gateway_tracing
    from omni.monitoring.tracing import db

    gateway_tracing.enable(provider)
    db.install(provider)
    try:
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        RedisInstrumentor().instrument(tracer_provider=provider)
    except Exception:  # a missing or incompatible instrumentation must not stop the process
        logger.exception("tracing: Redis instrumentation not installed")
    logger.info("tracing on: exporters %s", ", ".join(names))
    return True


def shutdown() -> None:
    """Flush and stop (tests; the SDK also flushes at interpreter exit)."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None
        from omni.gateway import tracing as gateway_tracing

        gateway_tracing.disable()
