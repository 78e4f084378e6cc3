from django.apps import AppConfig


class LoadtestConfig(AppConfig):
    """Load profiles, distributed runs on Celery, HDR results, baselines, regression verdicts."""

    name = "omni.loadtest"
    label = "loadtest"
    default_auto_field = "django.db.models.BigAutoField"
