"""SQL statements as CLIENT spans: a Django execute wrapper added to every database connection
that opens while tracing is on (``connection_created``). The statement text is recorded without
its parameters (``db.query.text`` keeps the placeholders), so no tenant data reaches the traces."""

from __future__ import annotations

from typing import Any

from django.db.backends.signals import connection_created

_tracer: Any = None


def _wrapper(execute: Any, sql: str, params: Any, many: bool, context: dict) -> Any:
    from opentelemetry.trace import SpanKind

    connection = context["connection"]
    operation = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "SQL"
    attributes = {
        "db.system.name": "postgresql" if connection.vendor == "postgresql" else connection.vendor,
        "db.namespace": str(connection.settings_dict.get("NAME") or ""),
        "db.operation.name": operation,
        "db.query.text": sql[:2000],
    }
    with _tracer.start_as_current_span(operation, kind=SpanKind.CLIENT, attributes=attributes):
        return execute(sql, params, many, context)


def _on_connection(sender: Any, connection: Any, **_: Any) -> None:
    if _wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(_wrapper)


def install(provider: Any) -> None:
    global _tracer
    _tracer = provider.get_tracer("omni.db")
    connection_created.connect(_on_connection, weak=False, dispatch_uid="omni-tracing-db")
