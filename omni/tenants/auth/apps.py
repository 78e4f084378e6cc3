from django.apps import AppConfig


class TenantsAuthConfig(AppConfig):
    name = "omni.tenants.auth"
    label = "tenants_auth"
    verbose_name = "Authentication"

    def ready(self) -> None:
        from omni.tenants.auth import schema, signals  # noqa: F401 (signal receivers, OpenAPI scheme)
