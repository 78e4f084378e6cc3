"""Membership by invitation, end to end through the views: an admin invites by email, the mail
(locmem outbox) carries a one-time link, the invitee accepts as an existing user or by creating an
account; expired, revoked and reused links are refused and audited; the answer is the same whether
or not an account exists for the address; viewers and members cannot invite."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client as DjangoClient
from django.utils import timezone

from omni.audit.models import AuditEvent
from omni.tenants.invitations import mask_email
from omni.tenants.models import Invitation, Membership, hash_invitation_token
from tests.factories import TEST_PASSWORD, UserFactory

LINK = re.compile(r"http://testserver/invite/([A-Za-z0-9_-]+)/")


_capture = None  # django_capture_on_commit_callbacks, set for each test by the fixture below


class Client(DjangoClient):
    """A test client that runs the on-commit callbacks of each request (mails and audit events
    are written after commit; the test's transaction never commits)."""

    def request(self, **request):
        with _capture(execute=True):
            return super().request(**request)


@pytest.fixture
def login():
    def make(user) -> Client:
        client = Client()
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    return make


def _by_email(email: str) -> Invitation | None:
    """The invitation to ``email`` (addresses are encrypted: found by their blind index)."""
    from omni.privacy.crypto.fields import blind_index

    for org_id in Invitation.objects.values_list("organization_id", flat=True).distinct():
        found = Invitation.objects.filter(
            organization_id=org_id, email_hash=blind_index(org_id, email)
        ).first()
        if found is not None:
            return found
    return None


def _invite(client: Client, slug: str, email: str, role: str = "member"):
    return client.post(f"/o/{slug}/members/invite/", {"email": email, "role": role})


def _token_of_last_mail(email: str) -> str:
    message = mail.outbox[-1]
    assert message.to == [email]
    match = LINK.search(message.body)
    assert match, message.body
    return match.group(1)


def _role(org, user) -> str | None:
    membership = Membership.objects.for_org(org).filter(user=user).first()
    return membership.role if membership else None


def _actions(org) -> list[str]:
    return list(
        AuditEvent.objects.filter(organization=org, action__startswith="invite.")
        .order_by("seq")
        .values_list("action", flat=True)
    )


@pytest.fixture(autouse=True)
def _mail_on_commit(django_capture_on_commit_callbacks):
    """Invitations are mailed after commit; inside the test's transaction, run those callbacks."""
    global _capture
    _capture = django_capture_on_commit_callbacks
    yield
    _capture = None


def test_invite_an_existing_user_who_accepts_by_signing_in(world, login):
    alice = UserFactory(username=f"alice-{world.acme.slug}", email=f"alice-{world.acme.slug}@example.org")
    admin = login(world.admin)
    response = _invite(admin, world.acme.slug, alice.email.upper(), "viewer")
    assert response.status_code == 302
    assert _role(world.acme, alice) is None  # nobody is added without consent
    token = _token_of_last_mail(alice.email)
    invitation = _by_email(alice.email)
    assert invitation.token_hash == hash_invitation_token(token) and token not in invitation.token_hash
    assert mail.outbox[-1].subject == f"You are invited to join {world.acme.name} on Omni MCP"
    page = admin.get(f"/o/{world.acme.slug}/members/").content.decode()
    assert f"Invitation sent to {alice.email}." in page and alice.email in page  # pending list

    anonymous = Client()
    landing = anonymous.get(f"/invite/{token}/")
    assert landing.status_code == 200
    text = landing.content.decode()
    assert "Sign in to accept" in text and "Create my account and join" in text
    assert f"/login/?next=%2Finvite%2F{token}%2F" in text
    # Signing in through the login page comes back to the link, which then accepts.
    logged_in = anonymous.post(
        "/login/", {"username": alice.username, "password": TEST_PASSWORD, "next": f"/invite/{token}/"}
    )
    assert logged_in.status_code == 302 and logged_in["Location"] == f"/invite/{token}/"
    assert "Accept and join" in anonymous.get(f"/invite/{token}/").content.decode()
    accepted = anonymous.post(f"/invite/{token}/", {"action": "accept"})
    assert accepted.status_code == 302 and accepted["Location"] == f"/o/{world.acme.slug}/"
    assert _role(world.acme, alice) == "viewer"
    invitation.refresh_from_db()
    assert invitation.accepted_by == alice and invitation.accepted_at is not None
    assert _actions(world.acme) == ["invite.create", "invite.accept"]
    accept_event = AuditEvent.objects.get(organization=world.acme, action="invite.accept")
    assert accept_event.actor_id == str(alice.pk) and accept_event.data["role"] == "viewer"

    # Single use: the same link again (even by the same person) is refused and audited.
    again = anonymous.post(f"/invite/{token}/", {"action": "accept"})
    assert again.status_code == 410 and "already been used" in again.content.decode()
    assert Client().get(f"/invite/{token}/").status_code == 410
    refused = AuditEvent.objects.filter(organization=world.acme, action="invite.refused")
    assert [event.data["reason"] for event in refused] == ["used", "used"]


def test_a_new_person_creates_an_account_on_accept(world, login):
    email = f"newcomer-{world.acme.slug}@example.org"
    assert _invite(login(world.owner), world.acme.slug, email, "member").status_code == 302
    token = _token_of_last_mail(email)
    client = Client()
    username = f"newcomer-{world.acme.slug}"
    mismatch = client.post(
        f"/invite/{token}/",
        {"action": "signup", "username": username, "password1": "a-Long-pass-42", "password2": "other-42"},
    )
    assert mismatch.status_code == 400 and "password fields didn" in mismatch.content.decode()
    assert not get_user_model().objects.filter(username=username).exists()
    created = client.post(
        f"/invite/{token}/",
        {
            "action": "signup",
            "username": username,
            "password1": "a-Long-pass-42",
            "password2": "a-Long-pass-42",
        },
    )
    assert created.status_code == 302 and created["Location"] == f"/o/{world.acme.slug}/"
    user = get_user_model().objects.get(username=username)
    assert user.email == email and _role(world.acme, user) == "member"
    assert client.get(f"/o/{world.acme.slug}/").status_code == 200  # signed in
    assert _actions(world.acme) == ["invite.create", "invite.accept"]


def test_the_answer_is_the_same_whether_or_not_an_account_exists(world, login):
    existing = UserFactory(username=f"known-{world.acme.slug}", email=f"known-{world.acme.slug}@example.org")
    unknown = f"nobody-{world.acme.slug}@example.org"
    admin = login(world.admin)
    answers = []
    for email in (existing.email, unknown):
        response = _invite(admin, world.acme.slug, email)
        page = admin.get(response["Location"]).content.decode()
        flash = re.search(r"Invitation sent to [^<]*", page).group(0)
        answers.append((response.status_code, flash.replace(email, "EMAIL")))
        body = mail.outbox[-1].body
        mails = (body.replace(email, "EMAIL"), mail.outbox[-1].subject)
        answers.append(re.sub(r"/invite/[^/]+/", "/invite/TOKEN/", mails[0]))
    assert answers[0] == answers[2] and answers[1] == answers[3]
    # Both links lead to the same page (both ways in offered).
    for email in (existing.email, unknown):
        token = LINK.search(next(m for m in mail.outbox if m.to == [email]).body).group(1)
        text = Client().get(f"/invite/{token}/").content.decode()
        assert "Sign in to accept" in text and "Create my account and join" in text


def test_expired_links_are_refused_and_audited(world, login, settings):
    email = f"late-{world.acme.slug}@example.org"
    _invite(login(world.admin), world.acme.slug, email)
    token = _token_of_last_mail(email)
    Invitation.objects.filter(pk=_by_email(email).pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    late = UserFactory(username=f"late-{world.acme.slug}")
    client = Client()
    client.force_login(late, backend="django.contrib.auth.backends.ModelBackend")
    response = client.post(f"/invite/{token}/", {"action": "accept"})
    assert response.status_code == 410 and "expired" in response.content.decode()
    assert _role(world.acme, late) is None
    event = AuditEvent.objects.get(organization=world.acme, action="invite.refused")
    assert event.data == {"reason": "expired"} and event.target_repr == mask_email(email)
    # The setting decides the lifetime.
    settings.INVITATION_EXPIRY_HOURS = 2
    _invite(login(world.admin), world.acme.slug, f"soon-{world.acme.slug}@example.org")
    invitation = _by_email(f"soon-{world.acme.slug}@example.org")
    lifetime = invitation.expires_at - invitation.created_at
    assert timedelta(hours=1, minutes=59) < lifetime <= timedelta(hours=2)


def test_revoked_links_are_refused_and_reinviting_replaces(world, login):
    email = f"maybe-{world.acme.slug}@example.org"
    admin = login(world.admin)
    _invite(admin, world.acme.slug, email)
    first = _token_of_last_mail(email)
    _invite(admin, world.acme.slug, email, "viewer")  # a new invitation replaces the pending one
    second = _token_of_last_mail(email)
    assert Client().get(f"/invite/{first}/").status_code == 410
    invitation = Invitation.objects.get(token_hash=hash_invitation_token(second))
    revoked = admin.post(f"/o/{world.acme.slug}/members/invitations/{invitation.pk}/revoke/")
    assert revoked.status_code == 302
    response = Client().get(f"/invite/{second}/")
    assert response.status_code == 410 and "withdrawn" in response.content.decode()
    # Revoking twice, or another organization's invitation, is a 404.
    assert admin.post(f"/o/{world.acme.slug}/members/invitations/{invitation.pk}/revoke/").status_code == 404
    assert _actions(world.acme) == [
        "invite.create",
        "invite.revoke",
        "invite.create",
        "invite.refused",
        "invite.revoke",
        "invite.refused",
    ]


def test_unknown_links_are_404(world):
    for token in ("nope", "x" * 43, "y" * 500):
        response = Client().get(f"/invite/{token}/")
        assert response.status_code == 404 and "not valid" in response.content.decode()


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_viewers_and_members_cannot_invite(world, login, role):
    client = login(world.user(role))
    response = _invite(client, world.acme.slug, f"x-{role}@example.org")
    assert response.status_code == 403
    assert _by_email(f"x-{role}@example.org") is None
    assert mail.outbox == []
    page = client.get(f"/o/{world.acme.slug}/members/").content.decode()
    assert "Invite a member" not in page


def test_invite_errors_are_inline_and_only_owners_invite_owners(world, login):
    admin = login(world.admin)
    slug = world.acme.slug
    cases = [
        ({"email": "not-an-email", "role": "member"}, "Enter a valid email address."),
        ({"email": "", "role": "member"}, "This field is required."),
        ({"email": "a@example.org", "role": "superhero"}, "Select a valid choice"),
        ({"email": "a@example.org", "role": "owner"}, "Only an owner"),
        ({"email": world.viewer.email, "role": "member"}, "already has this email"),  # a current member
    ]
    for data, message in cases:
        response = admin.post(f"/o/{slug}/members/invite/", data)
        assert response.status_code == 400, data
        assert message in response.content.decode(), data
    assert not Invitation.objects.filter(organization=world.acme).exists() and mail.outbox == []
    assert _invite(login(world.owner), slug, "boss@example.org", "owner").status_code == 302


def test_an_existing_member_keeps_their_role_on_accept(world, login):
    other = UserFactory(username=f"other-{world.acme.slug}", email=f"other-{world.acme.slug}@example.org")
    _invite(login(world.owner), world.acme.slug, other.email, "admin")
    token = _token_of_last_mail(other.email)
    client = login(world.viewer)  # the link reaches someone who already is a member (a viewer)
    response = client.post(f"/invite/{token}/", {"action": "accept"})
    assert response.status_code == 302
    assert _role(world.acme, world.viewer) == "viewer"  # not promoted by the invitation's role


def test_the_old_add_member_path_is_gone(world, login):
    response = login(world.owner).post(
        f"/o/{world.acme.slug}/members/add/", {"identifier": world.outsider.username, "role": "member"}
    )
    assert response.status_code == 404
    assert _role(world.acme, world.outsider) is None
