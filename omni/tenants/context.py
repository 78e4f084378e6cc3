"""OrgContext: who is asking, for which organization. The one way into tenant data."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omni.tenants.models import ApiKey, Organization


@dataclass(frozen=True)
class OrgContext:
    """The resolved context of one request.

    ``principal`` names the actor for logs ("user:alice", "key:omni_ab12cd34"). ``scopes`` are the
    API key's scopes (a logged-in member gets every scope their role allows).
    """

    organization: Organization
    principal: str
    role: str
    scopes: frozenset[str] = frozenset()
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    api_key: ApiKey | None = None
    user_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def org_id(self) -> int:
        return self.organization.pk

    @property
    def org_slug(self) -> str:
        return self.organization.slug

    @property
    def credential_id(self) -> str:
        """A stable id of the credential (what a gateway session is bound to)."""
        if self.api_key is not None:
            return f"key:{self.api_key.pk}"
        return f"user:{self.user_id}"
