"""Tenants UI: ``/login/``, ``/logout/``, ``/``, invitation links ``/invite/<token>/`` and the
organization pages under ``/o/<slug>/``."""

from django.contrib.auth import views as auth_views
from django.urls import path

from omni.tenants.auth.views import LoginView
from omni.tenants.views import home, invitations, keys, members

app_name = "tenants"

urlpatterns = [
    path("", home.home, name="home"),
    # Lockout-aware (omni/tenants/auth): a locked username or IP gets 429 and the reason inline.
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("o/<slug:slug>/", home.dashboard, name="dashboard"),
    path("o/<slug:slug>/members/", members.member_list, name="members"),
    path("o/<slug:slug>/members/invite/", invitations.invite_create, name="invite_create"),
    path(
        "o/<slug:slug>/members/invitations/<uuid:invitation_id>/revoke/",
        invitations.invite_revoke,
        name="invite_revoke",
    ),
    # The invitation link (public: the token is the credential; see omni/tenants/invitations.py).
    path("invite/<str:token>/", invitations.invite_accept, name="invite_accept"),
    path("o/<slug:slug>/members/settings/", members.org_settings, name="org_settings"),
    path("o/<slug:slug>/members/<str:username>/role/", members.member_role, name="member_role"),
    path("o/<slug:slug>/members/<str:username>/remove/", members.member_remove, name="member_remove"),
    path("o/<slug:slug>/keys/", keys.key_list, name="keys"),
    path("o/<slug:slug>/keys/new/", keys.key_create, name="key_create"),
    path("o/<slug:slug>/keys/<uuid:key_id>/revoke/", keys.key_revoke, name="key_revoke"),
]
