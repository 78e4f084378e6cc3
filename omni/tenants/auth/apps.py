from django.apps import AppConfig


class TenantsAuthConfig(AppConfig):
    name = "omni.tenants.auth"
    label = "tenants_auth"
    verbose_name = "Authentication"

    def ready(self) -> None:
        from omni.tenants.auth import signals  # noqa: F401 (connects the login signal receivers)
