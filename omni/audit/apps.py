from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "omni.audit"
    label = "audit"
    verbose_name = "Audit log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Logins, logouts and failed logins arrive as django.contrib.auth signals.
        from omni.audit import signals  # noqa: F401
