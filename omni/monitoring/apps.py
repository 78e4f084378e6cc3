from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Health of the platform: liveness, readiness, graceful shutdown of the web process."""

    name = "omni.monitoring"
    label = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from omni.monitoring.usage import setup as usage_setup  # counters subscribe, task registered

        usage_setup()
