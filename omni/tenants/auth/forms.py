"""The log-in form with lockout: a locked username or IP gets a clear error, not a password check."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from omni.tenants.auth import lockout


class LockoutAuthenticationForm(AuthenticationForm):
    """``AuthenticationForm`` that refuses locked attempts and says so (``form.lockout`` is set)."""

    lockout: lockout.Lockout | None = None

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        active = lockout.check(self.request, username)
        if active is not None:
            self.lockout = active
            lockout.record_refusal(self.request, username, active)
            raise ValidationError(active.message, code="locked_out")
        try:
            return super().clean()
        except ValidationError:
            # The failure that was just counted may have started a lock: say so now.
            started = getattr(self.request, "omni_started_lockout", None) or getattr(
                self.request, "omni_lockout", None
            )
            if started is not None:
                self.lockout = started
                raise ValidationError(started.message, code="locked_out") from None
            raise
