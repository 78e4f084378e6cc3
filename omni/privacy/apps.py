from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """Privacy and the data lifecycle: envelope encryption, retention, data-subject export and erasure."""

    name = "omni.privacy"
    label = "privacy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from omni.audit import sealing
        from omni.privacy.crypto import audit
        from omni.privacy.retention import checks  # noqa: F401  (registers the system checks)
        from omni.privacy.retention.builtin import register_builtin

        register_builtin()

        # Tool-call arguments are masked and encrypted before the audit log stores them.
        sealing.register(
            sealer=audit.seal_arguments, opener=audit.open_arguments, finisher=audit.finish_arguments
        )
