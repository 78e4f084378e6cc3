from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "omni.gateway"
    label = "gateway"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from omni.gateway import checks  # noqa: F401  (registers the system checks)
