"""Registry changes reach open MCP sessions: catalogue cache invalidation + list_changed.

Called (after commit) by the registry whenever a prompt, resource, template or server connection
changes. ``org_id=None`` means a global item changed: every organization is affected.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

KINDS = frozenset({"tools", "prompts", "resources"})


def registry_changed(org_id: int | None, kinds: set[str] | frozenset[str]) -> None:
    """Invalidate the catalogue of ``org_id`` (or all) and notify its open sessions."""
    from omni.gateway.catalogue import invalidate_catalogue
    from omni.gateway.sessions import publish_list_changed

    unknown = set(kinds) - KINDS
    if unknown:
        raise ValueError(f"unknown catalogue kinds: {sorted(unknown)}")
    invalidate_catalogue(org_id, kinds)
    try:
        publish_list_changed(org_id, kinds)
    except Exception:  # a notification is advisory: never fail the write that caused it
        logger.exception("could not publish list_changed for org %s", org_id)
