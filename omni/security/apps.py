from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "omni.security"
    label = "security"
    verbose_name = "Security"

    def ready(self) -> None:
        from omni.security import checks  # noqa: F401 (registers the system checks)
