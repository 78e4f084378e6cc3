from django.contrib import admin

from omni.playground.models import TestRun


@admin.register(TestRun)
class TestRunAdmin(admin.ModelAdmin):
    """Read-only: test runs are records of what happened."""

    list_display = (
        "created_at",
        "organization",
        "username",
        "source",
        "operation",
        "target",
        "outcome",
        "duration_ms",
    )
    list_filter = ("source", "outcome", "operation")
    search_fields = ("target", "username", "organization__slug")
    list_select_related = ("organization",)
    readonly_fields = [field.name for field in TestRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
