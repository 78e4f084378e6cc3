from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Health of the platform: liveness, readiness, graceful shutdown of the web process."""

    name = "omni.monitoring"
    label = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Heartbeats of Celery workers and beat (connects Celery signals; harmless elsewhere).
        # Its periodic task lives in a sub-package, which Celery's autodiscovery does not look into.
        from django.core.exceptions import ImproperlyConfigured

        from omni.monitoring import tracing
        from omni.monitoring.health import celery_hooks, tasks  # noqa: F401
        from omni.monitoring.metrics.setup import setup as setup_metrics

        setup_metrics()
        try:
            tracing.setup()
        except ValueError as exc:
            raise ImproperlyConfigured(str(exc)) from None
        from omni.monitoring.usage import setup as usage_setup  # counters subscribe, task registered

        usage_setup()
        # mstatus: the probe task (Celery finds it), the breaker's passive signals, the /metrics collector.
        from omni.monitoring.status import tasks  # noqa: F401
        from omni.monitoring.status.services import connect_signals

        connect_signals()
