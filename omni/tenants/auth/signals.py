"""Receivers that count failed logins and clear them after a successful one (every login path)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from omni.security.audit import record_event
from omni.tenants.auth import lockout


@receiver(user_login_failed, dispatch_uid="omni_lockout_failed")
def login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    username = credentials.get(get_user_model().USERNAME_FIELD)
    username = username if isinstance(username, str) else None
    refused = getattr(request, "omni_lockout", None)
    if refused is not None:  # refused by LockoutBackend while locked: not a new failure
        lockout.record_refusal(request, username, refused)
        return
    started = lockout.register_failure(request, username)
    record_event("auth.login_failed", request=request, target_type="auth.username", target_id=username or "")
    if started is not None:
        if request is not None:
            request.omni_started_lockout = started  # the view may say so at once
        record_event(
            "auth.lockout",
            request=request,
            target_type="auth.username",
            target_id=username or "",
            details={"locked": started.subject, "seconds": started.retry_after},
        )


@receiver(user_logged_in, dispatch_uid="omni_lockout_reset")
def logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    lockout.reset(request, user.get_username())
