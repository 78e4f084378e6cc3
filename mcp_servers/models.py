"""Data of the built-in MCP servers: notes (knowledge) and datasets (analytics).

Rows are keyed by the organization *slug* the gateway passes in each request's ``_meta``; there is no
foreign key to the tenant tables, so the servers run on their own against any database. Every query
goes through ``for_org(slug)``: a bare ``.objects.all()`` here would be a cross-tenant bug.
"""

from __future__ import annotations

import uuid

from django.apps import apps
from django.db import models

from omni.privacy.crypto.fields import EncryptedJSONField

ORG_SLUG_MAX_LENGTH = 100


class OrgScopedQuerySet(models.QuerySet):
    def for_org(self, org_slug: str) -> OrgScopedQuerySet:
        """Only the rows of one organization (the one way into this data)."""
        return self.filter(org_slug=org_slug)


class Note(models.Model):
    """A short text note with tags, kept by the knowledge server."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    org_slug = models.CharField(max_length=ORG_SLUG_MAX_LENGTH, db_index=True)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["org_slug", "-updated_at"], name="note_org_updated_idx")]

    def __str__(self) -> str:
        return f"{self.title} ({self.org_slug})"


class Dataset(models.Model):
    """A small table loaded from CSV, kept by the analytics server.

    ``columns`` is a list of ``{"name": str, "type": "number" | "string" | "bool"}``; ``rows`` is a
    list of lists of typed JSON values (``null`` for missing cells), in column order.
    """

    org_slug = models.CharField(max_length=ORG_SLUG_MAX_LENGTH, db_index=True)
    name = models.CharField(max_length=100)
    # Encrypted with the data key of the organization whose slug this is (the platform key when no
    # organization here has that slug, e.g. a standalone server's own database).
    columns = EncryptedJSONField(default=list)
    rows = EncryptedJSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["org_slug", "name"], name="dataset_unique_name_per_org")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.org_slug})"

    def privacy_org_id(self) -> int | None:
        """The organization whose data key encrypts this dataset (looked up by slug)."""
        organization = apps.get_model("tenants", "Organization")
        return organization.objects.filter(slug=self.org_slug).values_list("pk", flat=True).first()
