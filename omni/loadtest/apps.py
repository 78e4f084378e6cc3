from django.apps import AppConfig


class LoadtestConfig(AppConfig):
    """Load profiles, distributed runs on Celery, HDR results, baselines, regression verdicts."""

    name = "omni.loadtest"
    label = "loadtest"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from omni.loadtest.retention import register_retention

        register_retention()  # the "load_runs" class (omni.privacy.retention)
