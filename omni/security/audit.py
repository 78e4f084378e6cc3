"""Security events into the audit log (``omni.audit``), in this package's vocabulary.

``record_event("auth.login_failed", request=..., target_type="auth.username", target_id=name)``.
DRF requests are unwrapped to their Django request (the audit log reads its IP and request id).
Recording never breaks the request that caused it: the audit service logs its own failures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omni.audit.services import AuditTarget, record


def record_event(
    action: str,
    *,
    request: Any = None,
    ctx: Any = None,
    organization: Any = None,
    target_type: str = "",
    target_id: str = "",
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append ``action`` to the audit log, about ``target_type``/``target_id`` when given."""
    http_request = getattr(request, "_request", request)  # a DRF Request wraps the HttpRequest
    target = AuditTarget(target_type, target_id[:64], target_id[:200]) if target_type else None
    record(
        action,
        ctx=ctx,
        organization=organization,
        target=target,
        data=dict(details or {}),
        request=http_request,
    )
