"""Forms of the tenants UI: organization settings, members and roles, API keys.

The rules about owners live here, next to the inline errors they produce: only an owner may grant,
change or take away the owner role (or invite an owner), and an organization never loses its last
owner. The writes go through ``omni.tenants.services`` (``add_member``, ``create_api_key``),
``omni.tenants.invitations`` and model save/delete. Nobody is added without their consent: new
members come in by invitation only.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from omni.audit.services import record
from omni.tenants import invitations
from omni.tenants.context import OrgContext
from omni.tenants.models import ApiKey, Membership, Organization, Role
from omni.tenants.permissions import API_KEY_SCOPES
from omni.tenants.services import add_member, create_api_key

SCOPE_LABELS = {
    "tools:call": "tools:call — list and call tools",
    "prompts:read": "prompts:read — list and get prompts",
    "resources:read": "resources:read — list and read resources",
}
EXPIRY_CHOICES = [
    ("", "Never"),
    ("7", "In 7 days"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In 1 year"),
]


class OrganizationForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = ["name"]


def _owner_rule(ctx: OrgContext, target_role: str | None, new_role: str | None) -> str | None:
    """The error when ``ctx`` may not move a member from ``target_role`` to ``new_role``."""
    touches_owner = Role.OWNER in (target_role, new_role)
    if touches_owner and ctx.role != Role.OWNER:
        return "Only an owner can grant, change or remove the owner role."
    return None


def _is_last_owner(membership: Membership) -> bool:
    """Whether ``membership`` is its organization's only owner (owners locked until commit)."""
    if membership.role != Role.OWNER:
        return False
    owners = Membership.objects.for_org(membership.organization).filter(role=Role.OWNER)
    return list(owners.order_by("pk").select_for_update().values_list("pk", flat=True)) == [membership.pk]


class InviteForm(forms.Form):
    """Invite someone by email. Whether an account exists for the address is never looked up here:
    the answer is the same either way (``omni.tenants.invitations``)."""

    email = forms.EmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"placeholder": "alice@example.org"})
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)

    def __init__(self, *args, ctx: OrgContext, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ctx = ctx

    def clean_role(self) -> str:
        role = self.cleaned_data["role"]
        error = _owner_rule(self.ctx, None, role)
        if error:
            raise forms.ValidationError(error)
        return role

    def save(self, user: AbstractBaseUser, base_url: str) -> invitations.Created | None:
        """Create and mail the invitation; None (and a form error) when it may not be created."""
        try:
            return invitations.create_invitation(
                self.ctx,
                self.cleaned_data["email"],
                self.cleaned_data["role"],
                invited_by=user,
                base_url=base_url,
            )
        except invitations.InvitationError as exc:
            self.add_error("email", str(exc))
            return None


class SignupForm(UserCreationForm):
    """A new account for the invited address (the email comes from the invitation)."""

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username",)

    def __init__(self, *args, email: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def save(self, commit: bool = True) -> AbstractBaseUser:
        user = super().save(commit=False)
        user.email = self.email
        if commit:
            user.save()
        return user


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)

    def __init__(self, *args, ctx: OrgContext, membership: Membership, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ctx = ctx
        self.membership = membership

    def clean_role(self) -> str:
        role = self.cleaned_data["role"]
        if role != self.membership.role:
            error = _owner_rule(self.ctx, self.membership.role, role)
            if error:
                raise forms.ValidationError(error)
        return role

    def save(self) -> Membership | None:
        """Change the role; None (and a form error) when it would remove the last owner."""
        role = self.cleaned_data["role"]
        with transaction.atomic():
            if role != Role.OWNER and _is_last_owner(self.membership):
                self.add_error(
                    "role", "The organization needs at least one owner: make someone else owner first."
                )
                return None
            return add_member(self.ctx.organization, self.membership.user, role)


def remove_member(ctx: OrgContext, membership: Membership) -> str | None:
    """Remove ``membership``; returns the reason when it may not be removed (nothing written)."""
    error = _owner_rule(ctx, membership.role, None)
    if error:
        return error
    with transaction.atomic():
        if _is_last_owner(membership):
            return "The last owner cannot be removed: make someone else owner first."
        membership.delete()
        record("member.remove", ctx=ctx, target=membership.user, data={"role": membership.role})
    return None


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"placeholder": "cursor-laptop"}))
    scopes = forms.MultipleChoiceField(
        choices=[(scope, SCOPE_LABELS.get(scope, scope)) for scope in API_KEY_SCOPES],
        initial=list(API_KEY_SCOPES),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one scope."},
    )
    expires_in = forms.ChoiceField(label="Expires", choices=EXPIRY_CHOICES, required=False)

    def __init__(self, *args, ctx: OrgContext, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ctx = ctx

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the key a name.")
        return name

    def save(self, user: AbstractBaseUser) -> tuple[ApiKey, str]:
        days = self.cleaned_data.get("expires_in")
        expires_at = timezone.now() + timedelta(days=int(days)) if days else None
        return create_api_key(
            self.ctx.organization,
            self.cleaned_data["name"],
            scopes=self.cleaned_data["scopes"],
            expires_at=expires_at,
            created_by=user,
        )
