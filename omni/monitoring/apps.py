from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Health of the platform: liveness, readiness, graceful shutdown of the web process."""

    name = "omni.monitoring"
    label = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # mstatus: the probe task (Celery finds it), the breaker's passive signals, the /metrics collector.
        from omni.monitoring.status import tasks  # noqa: F401
        from omni.monitoring.status.services import connect_signals

        connect_signals()
        # TODO(lead): once omni.monitoring.metrics exists on main, add:
        #   from omni.monitoring.metrics import register_collector; register_collector(status_metrics.collect)
