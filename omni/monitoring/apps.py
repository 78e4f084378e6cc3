from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Health of the platform (liveness, readiness, heartbeats, graceful shutdown), downstream
    server status, usage analytics, metrics and traces, alerts and incidents."""

    name = "omni.monitoring"
    label = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.exceptions import ImproperlyConfigured

        # Periodic tasks live in sub-packages, which Celery's autodiscovery does not look into:
        # importing them registers them (beat, workers and the in-process scheduler find them).
        from omni.monitoring import tracing
        from omni.monitoring.health import celery_hooks  # noqa: F401  (heartbeats of workers and beat)
        from omni.monitoring.health import tasks as health_tasks  # noqa: F401
        from omni.monitoring.metrics.setup import setup as setup_metrics
        from omni.monitoring.retention import register_retention
        from omni.monitoring.status import tasks as status_tasks  # noqa: F401
        from omni.monitoring.status.services import connect_signals
        from omni.monitoring.usage import setup as usage_setup
        from omni.privacy.signals import user_erasing

        setup_metrics()  # /metrics, the request observer, the status collector
        try:
            tracing.setup()
        except ValueError as exc:
            raise ImproperlyConfigured(str(exc)) from None
        usage_setup()  # the usage counters subscribe to the gateway's request observer
        connect_signals()  # the circuit breaker's transitions feed the server status
        register_retention()  # usage rollups, incidents and deliveries, status history
        from omni.monitoring.alerts.services import forget_address

        user_erasing.connect(forget_address, dispatch_uid="monitoring.forget_address")
