from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from omni.registry.models import Prompt, Resource, ResourceTemplate, ServerConnection
from omni.registry.pins import ToolPin


class RegistryItemAdmin(admin.ModelAdmin):
    """Deletes go through ``RegistryQuerySet.delete`` / ``Model.delete``, which notify the gateway."""

    list_filter = [("organization", admin.RelatedOnlyFieldListFilter)]
    readonly_fields = ["uuid", "created_at", "updated_at"]
    autocomplete_fields = ["organization"]

    @admin.display(description="scope")
    def scope(self, obj) -> str:
        return "global" if obj.is_global else obj.organization.slug

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("organization")


@admin.register(Prompt)
class PromptAdmin(RegistryItemAdmin):
    list_display = ["name", "scope", "title", "updated_at"]
    search_fields = ["name", "title", "description"]


@admin.register(Resource)
class ResourceAdmin(RegistryItemAdmin):
    list_display = ["uri", "scope", "name", "mime_type", "size_display", "updated_at"]
    search_fields = ["uri", "name", "title"]
    readonly_fields = [*RegistryItemAdmin.readonly_fields, "size_display"]

    @admin.display(description="size (bytes)")
    def size_display(self, obj: Resource) -> int:
        return obj.size if obj.pk else 0


@admin.register(ResourceTemplate)
class ResourceTemplateAdmin(RegistryItemAdmin):
    list_display = ["name", "scope", "uri_template", "mime_type", "updated_at"]
    search_fields = ["name", "uri_template", "title"]


@admin.register(ServerConnection)
class ServerConnectionAdmin(RegistryItemAdmin):
    list_display = ["name", "scope", "transport", "target", "url", "enabled", "updated_at"]
    list_filter = [*RegistryItemAdmin.list_filter, "transport", "enabled"]
    search_fields = ["name", "title", "url", "target"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(ToolPin)
class ToolPinAdmin(admin.ModelAdmin):
    """Tool pins: approve a changed tool definition so the gateway offers the tool again."""

    list_display = ("connection", "tool_name", "status", "changed_at", "approved_at", "approved_by")
    list_filter = ("status",)
    search_fields = ("tool_name", "connection__name")
    readonly_fields = [f.name for f in ToolPin._meta.fields]
    actions = ["approve_changes"]

    @admin.action(description="Approve the changed definitions (offer the tools again)")
    def approve_changes(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        approved = 0
        for pin in queryset.filter(status=ToolPin.Status.CHANGED):
            pin.approve(request.user)
            approved += 1
        self.message_user(request, f"{approved} tool change(s) approved.")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
