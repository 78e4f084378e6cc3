from django.apps import AppConfig


class PlaygroundConfig(AppConfig):
    name = "omni.playground"
    label = "playground"
    verbose_name = "Playground and test runs"
    default_auto_field = "django.db.models.BigAutoField"
