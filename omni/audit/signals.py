"""Logins and logouts: django.contrib.auth's signals, recorded as global events.

These are security events with no business transaction around them, so they are written at once
(``record`` does that outside a transaction). Failed logins (``auth.login_failed``, and
``auth.login_refused`` / ``auth.lockout`` while locked out) are recorded by the lockout receiver
in ``omni/tenants/auth/signals.py``, which knows whether an attempt was refused by the lock.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from omni.audit.services import record


@receiver(user_logged_in, dispatch_uid="omni.audit.login")
def on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record("auth.login", actor=user, target=user, request=request, data={"outcome": "ok"})


@receiver(user_logged_out, dispatch_uid="omni.audit.logout")
def on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is None:  # logging out while not logged in
        return
    record("auth.logout", actor=user, target=user, request=request, data={"outcome": "ok"})
