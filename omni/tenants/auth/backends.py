"""``LockoutBackend``: first in ``AUTHENTICATION_BACKENDS``, it refuses locked-out attempts.

Raising ``PermissionDenied`` stops ``django.contrib.auth.authenticate`` before any other backend
checks the password (so a locked account learns nothing from a right guess), and makes it send
``user_login_failed``. The lock is left on the request (``request.omni_lockout``) so that a view
can say why.

It extends ``ModelBackend`` only so that sessions naming it (``force_login`` picks the first
backend) load their user; it checks no password itself: ``ModelBackend``, next in the list, does.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from omni.tenants.auth import lockout


class LockoutBackend(ModelBackend):
    def authenticate(  # type: ignore[override]
        self, request: Any, username: str | None = None, password: str | None = None, **credentials: Any
    ) -> None:
        if username is None:
            username = credentials.get(get_user_model().USERNAME_FIELD)
        active = lockout.check(request, username)
        if active is not None:
            if request is not None:
                request.omni_lockout = active
            raise PermissionDenied(active.message)
        return None
