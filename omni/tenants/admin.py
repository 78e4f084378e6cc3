from django.contrib import admin, messages
from django.http import HttpRequest

from omni.tenants.models import ApiKey, Membership, Organization
from omni.tenants.services import delete_organization, revoke_api_key


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    readonly_fields = ["created_at"]
    inlines = [MembershipInline]

    def delete_model(self, request: HttpRequest, obj: Organization) -> None:
        delete_organization(obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for org in queryset:
            delete_organization(org)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "organization__slug"]
    autocomplete_fields = ["user", "organization"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created here (the raw key is shown once, in a message) and revoked, never edited."""

    list_display = ["prefix", "name", "organization", "scopes", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["organization"]
    search_fields = ["prefix", "name", "organization__slug"]
    readonly_fields = ["id", "prefix", "key_hash", "revoked_at", "last_used_at", "created_by", "created_at"]
    actions = ["revoke_selected"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return self.readonly_fields
        return [*self.readonly_fields, "organization", "name", "scopes", "expires_at"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        if change:
            return
        raw = obj.generate_secret()
        obj.created_by = request.user
        super().save_model(request, obj, form, change)
        messages.warning(request, f"Copy this API key now, it cannot be shown again: {raw}")

    @admin.action(description="Revoke the selected API keys")
    def revoke_selected(self, request: HttpRequest, queryset) -> None:
        for key in queryset:
            revoke_api_key(key)
        messages.success(request, f"Revoked {queryset.count()} key(s).")
