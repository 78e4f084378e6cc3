"""Who may do what inside an organization: the role → capabilities table, in one place.

Capabilities are plain strings. The first three are also the scopes an API key can carry; an API
key acts with the ``member`` role narrowed to its scopes, so a key can never manage anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied

if TYPE_CHECKING:
    from omni.tenants.context import OrgContext

# MCP operations (also the API key scopes).
TOOLS_CALL = "tools:call"
PROMPTS_READ = "prompts:read"
RESOURCES_READ = "resources:read"
# Reading and managing the organization's configuration.
REGISTRY_READ = "registry:read"  # see servers, prompts, resources (and their settings)
REGISTRY_WRITE = "registry:write"  # add, change, remove servers, prompts, resources
MEMBERS_MANAGE = "members:manage"
KEYS_MANAGE = "keys:manage"
ORG_MANAGE = "org:manage"
AUDIT_READ = "audit:read"
PRIVACY_MANAGE = "privacy:manage"  # retention periods and legal hold: owners only
USAGE_READ = "usage:read"  # the usage dashboard of real MCP traffic (omni/monitoring/usage)
LOADTEST_READ = "loadtest:read"  # load-test profiles, runs, reports, trends (omni/loadtest)
LOADTEST_RUN = "loadtest:run"  # start and cancel load runs, edit profiles, save baselines

API_KEY_SCOPES: tuple[str, ...] = (TOOLS_CALL, PROMPTS_READ, RESOURCES_READ)

_READ = frozenset({PROMPTS_READ, RESOURCES_READ, REGISTRY_READ, LOADTEST_READ})
_USE = _READ | {TOOLS_CALL}
_MANAGE = _USE | {
    REGISTRY_WRITE,
    MEMBERS_MANAGE,
    KEYS_MANAGE,
    ORG_MANAGE,
    AUDIT_READ,
    USAGE_READ,
    LOADTEST_RUN,
}

ROLE_CAPABILITIES: dict[str, frozenset[str]] = {
    "owner": _MANAGE | {PRIVACY_MANAGE},
    "admin": _MANAGE,
    "member": _USE,
    "viewer": _READ,
}

ALL_CAPABILITIES: frozenset[str] = _MANAGE | {PRIVACY_MANAGE}


def role_capabilities(role: str) -> frozenset[str]:
    """The capabilities of ``role`` (none for an unknown role)."""
    return ROLE_CAPABILITIES.get(role, frozenset())


def role_scopes(role: str) -> frozenset[str]:
    """The MCP scopes a logged-in user with ``role`` gets."""
    return role_capabilities(role) & frozenset(API_KEY_SCOPES)


def can(ctx: OrgContext, capability: str) -> bool:
    """Whether the actor of ``ctx`` may exercise ``capability`` in ``ctx.organization``."""
    if capability not in role_capabilities(ctx.role):
        return False
    if ctx.api_key is not None:
        # A key is limited to the scopes it was given (which are only MCP scopes).
        return capability in ctx.scopes
    return True


def require(ctx: OrgContext, capability: str) -> None:
    """Raise ``PermissionDenied`` (403) unless ``can(ctx, capability)``.

    Use it after the context was resolved: outsiders never get this far (they get 404).
    """
    if not can(ctx, capability):
        raise PermissionDenied(f"{ctx.principal} may not {capability} in {ctx.org_slug}")
