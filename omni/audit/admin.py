"""The audit log in Django's admin: read-only (no add, change or delete, not even for superusers)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from omni.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["seq", "created_at", "org_slug", "action", "actor_name", "target_repr", "ip"]
    list_filter = ["action", "actor_type"]
    search_fields = ["org_slug", "action", "actor_name", "target_repr", "request_id"]
    ordering = ["-seq"]
    actions = None

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
