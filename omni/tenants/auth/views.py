"""The log-in view of the web UI with lockout (``/login/``).

A locked username or IP gets the log-in page again with the lockout message as a form error,
status 429 and ``Retry-After``. Wire it in ``urls.py`` as
``path("login/", LoginView.as_view(), name="login")``.
"""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpResponse

from omni.tenants.auth.forms import LockoutAuthenticationForm


class LoginView(auth_views.LoginView):
    form_class = LockoutAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form: LockoutAuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        if form.lockout is not None:
            response.status_code = 429
            response["Retry-After"] = str(form.lockout.retry_after)
        return response
