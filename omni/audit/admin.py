"""The audit log in Django's admin: read-only (no add, change or delete, not even for superusers)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from omni.audit.models import AuditDeadLetter, AuditEvent, AuditSource


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


class _ReadOnly(admin.ModelAdmin):
    actions = None

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditDeadLetter)
class AuditDeadLetterAdmin(_ReadOnly):
    """Spooled events that could never be written: read them, fix the cause, delete them."""

    list_display = ["created_at", "source", "source_seq", "spool_id", "error"]
    search_fields = ["source", "error", "payload"]


@admin.register(AuditSource)
class AuditSourceAdmin(_ReadOnly):
    """Per process: how many events it numbered, and how many were written or dead-lettered."""

    list_display = ["name", "spooled", "written", "dead", "first_seen", "updated_at"]
    search_fields = ["name"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
