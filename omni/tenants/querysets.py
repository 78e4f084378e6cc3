"""Tenant scoping in one queryset method: ``Model.objects.for_org(ctx_or_org)``.

Tenant data is only ever read through ``for_org`` (or ``owned_by``), never ``.objects.all()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from omni.tenants.context import OrgContext
    from omni.tenants.models import Organization


def organization_of(ctx_or_org: OrgContext | Organization) -> Organization:
    """The saved ``Organization`` of an ``OrgContext`` or an ``Organization``; anything else is a bug."""
    from omni.tenants.context import OrgContext
    from omni.tenants.models import Organization

    if isinstance(ctx_or_org, OrgContext):
        org = ctx_or_org.organization
    elif isinstance(ctx_or_org, Organization):
        org = ctx_or_org
    else:
        raise TypeError(f"expected an OrgContext or an Organization, got {type(ctx_or_org).__name__}")
    if org.pk is None:
        raise ValueError("the organization is not saved")
    return org


class TenantQuerySet(models.QuerySet):
    """Rows of one organization. Models with a nullable ``organization`` set ``include_global``."""

    include_global = False

    def for_org(self, ctx_or_org: OrgContext | Organization) -> TenantQuerySet:
        """What ``ctx_or_org`` may see: its own rows, plus global rows where the model has them."""
        org = organization_of(ctx_or_org)
        condition = models.Q(organization_id=org.pk)
        if self.include_global:
            condition |= models.Q(organization__isnull=True)
        return self.filter(condition)

    def owned_by(self, ctx_or_org: OrgContext | Organization) -> TenantQuerySet:
        """Only the organization's own rows (what its admins may change)."""
        return self.filter(organization_id=organization_of(ctx_or_org).pk)

    def global_only(self) -> TenantQuerySet:
        """The rows shared by every organization (organization IS NULL)."""
        return self.filter(organization__isnull=True)


class GlobalTenantQuerySet(TenantQuerySet):
    include_global = True
