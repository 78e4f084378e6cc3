"""A URL configuration for tests of ``omni.tenants.auth.views.LoginView`` on its own: the project's
URLs plus this view at ``/lockout-login/`` (named ``tenants:login`` in the project itself)."""

from django.urls import path

from omni.tenants.auth.views import LoginView
from omni.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("lockout-login/", LoginView.as_view(template_name="registration/login.html"), name="lockout-login"),
    *project_urlpatterns,
]
