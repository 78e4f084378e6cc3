"""Login lockout: failures per username and per IP, shared by every login path and process."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import httpx2
import pytest
from django.core.management import call_command
from django.test import Client

from omni.audit.models import AuditEvent
from omni.tenants.auth import lockout
from tests.factories import TEST_PASSWORD, UserFactory
from tests.security.conftest import random_ip


class FakeRequest:
    def __init__(self, ip: str) -> None:
        self.META = {"REMOTE_ADDR": ip}


@pytest.fixture
def strict(settings):
    settings.LOGIN_LOCKOUT_FAILURES = 5
    settings.LOGIN_LOCKOUT_IP_FAILURES = 8
    settings.LOGIN_LOCKOUT_WINDOW_SECONDS = 900
    settings.LOGIN_LOCKOUT_MINUTES = 15
    return settings


def name() -> str:
    return f"lock-{uuid.uuid4().hex[:10]}"


def test_username_locks_after_n_failures(strict):
    request, user = FakeRequest(random_ip()), name()
    for _ in range(4):
        assert lockout.register_failure(request, user) is None
        assert lockout.check(request, user) is None
    started = lockout.register_failure(request, user)
    assert started is not None and started.subject == "username"
    active = lockout.check(FakeRequest(random_ip()), user.upper())  # any IP, any case
    assert active is not None and active.subject == "username"
    assert 14 * 60 < active.retry_after <= 15 * 60
    assert "try again in 15 minutes" in active.message
    assert lockout.check(request, name()) is None  # another username from the same IP


def test_ip_locks_after_its_own_threshold(strict):
    request = FakeRequest(random_ip())
    for _ in range(7):
        assert lockout.register_failure(request, name()) is None
    started = lockout.register_failure(request, name())
    assert started is not None and started.subject == "ip"
    assert lockout.check(request, name()).subject == "ip"
    assert lockout.check(FakeRequest(random_ip()), name()) is None


def test_failures_outside_the_window_are_forgotten(strict):
    strict.LOGIN_LOCKOUT_WINDOW_SECONDS = 1
    request, user = FakeRequest(random_ip()), name()
    for _ in range(4):
        lockout.register_failure(request, user)
    time.sleep(1.3)
    assert lockout.register_failure(request, user) is None
    assert lockout.check(request, user) is None


def test_success_resets_the_username_not_the_ip(strict):
    request, user = FakeRequest(random_ip()), name()
    for _ in range(4):
        lockout.register_failure(request, user)
    lockout.reset(request, user)
    for _ in range(3):  # 7 for the username without the reset: it would have locked at 5
        assert lockout.register_failure(request, user) is None
    # the IP kept its 7 failures: the 8th locks it
    assert lockout.register_failure(request, name()).subject == "ip"


def test_failures_while_locked_do_not_extend_the_lock(strict):
    request, user = FakeRequest(random_ip()), name()
    for _ in range(5):
        lockout.register_failure(request, user)
    first = lockout.check(request, user).retry_after
    assert lockout.register_failure(request, user).retry_after <= first


def test_unlock_command(strict):
    ip, user = random_ip(), name()
    request = FakeRequest(ip)
    for _ in range(8):
        lockout.register_failure(request, f"{user}-{_}")
    for _ in range(5):
        lockout.register_failure(FakeRequest(random_ip()), user)
    assert lockout.check(request, None).subject == "ip"
    call_command("unlock_login", username=user, ip=ip)
    assert lockout.check(request, user) is None


def _login(client: Client, url: str, username: str, password: str):
    return client.post(url, {"username": username, "password": password})


@pytest.mark.urls("tests.security.login_urls")
def test_login_view_says_locked_with_429(strict, db, ip, django_capture_on_commit_callbacks):
    user = UserFactory(username=name())
    client = Client(REMOTE_ADDR=ip)
    with django_capture_on_commit_callbacks(execute=True):
        _attempts(client, user)
    events = AuditEvent.objects.filter(target_id=user.username)
    assert events.filter(action="auth.login_failed").count() == 5
    assert events.filter(action="auth.lockout").count() == 1
    assert events.filter(action="auth.login_refused").count() == 1
    lockout.unlock(username=user.username)
    ok = _login(client, "/lockout-login/", user.username, TEST_PASSWORD)
    assert ok.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def _attempts(client: Client, user) -> None:
    for _ in range(4):
        response = _login(client, "/lockout-login/", user.username, "wrong")
        assert response.status_code == 200
        assert "correct username and password" in response.content.decode()
    fifth = _login(client, "/lockout-login/", user.username, "wrong")
    assert fifth.status_code == 429
    assert "Too many failed log-ins for this account" in fifth.content.decode()
    # The right password does not help while locked, and nothing is logged in.
    locked = _login(client, "/lockout-login/", user.username, TEST_PASSWORD)
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 14 * 60
    assert "_auth_user_id" not in client.session


def test_project_login_refuses_locked_account(strict, db, ip):
    """The deployed /login/ (whatever view it is) goes through LockoutBackend."""
    user = UserFactory(username=name())
    client = Client(REMOTE_ADDR=ip)
    for _ in range(5):
        assert _login(client, "/login/", user.username, "wrong").status_code in (200, 429)
    response = _login(client, "/login/", user.username, TEST_PASSWORD)
    assert response.status_code in (200, 429)
    assert "_auth_user_id" not in client.session


def test_admin_login_shares_the_lock(strict, db, ip):
    user = UserFactory(username=name(), is_staff=True)
    client = Client(REMOTE_ADDR=ip)
    for _ in range(5):
        _login(client, "/admin/login/", user.username, "wrong")
    _login(client, "/admin/login/", user.username, TEST_PASSWORD)
    assert "_auth_user_id" not in client.session


def test_token_endpoint_locks_with_429_json(strict, db, ip):
    user = UserFactory(username=name())
    client = Client(REMOTE_ADDR=ip)
    for _ in range(4):
        response = client.post(
            "/api/auth/token/", {"username": user.username, "password": "x"}, content_type="application/json"
        )
        assert response.status_code == 401
        assert response.json()["code"] == "no_active_account"
    fifth = client.post(
        "/api/auth/token/", {"username": user.username, "password": "x"}, content_type="application/json"
    )
    assert fifth.status_code == 429
    body = fifth.json()
    assert body["code"] == "locked_out" and "Too many failed log-ins" in body["detail"]
    assert int(fifth["Retry-After"]) == body["retry_after"]
    right = client.post(
        "/api/auth/token/",
        {"username": user.username, "password": TEST_PASSWORD},
        content_type="application/json",
    )
    assert right.status_code == 429
    assert "access" not in right.json()


@pytest.mark.live
def test_failures_add_up_across_processes(live_server_factory, committed):
    """Two web processes on one Redis: 3 failures on one and 2 on the other lock the account."""
    user = UserFactory(username=name())
    first, second = live_server_factory.start(), live_server_factory.start()
    body = {"username": user.username, "password": "wrong"}
    for server in (first, first, first, second):
        assert httpx2.post(f"{server.url}/api/auth/token/", json=body, timeout=10).status_code == 401
    assert httpx2.post(f"{second.url}/api/auth/token/", json=body, timeout=10).status_code == 429
    right = {"username": user.username, "password": TEST_PASSWORD}
    for server in (first, second):
        response = httpx2.post(f"{server.url}/api/auth/token/", json=right, timeout=10)
        assert response.status_code == 429, response.text
    result = subprocess.run(
        [sys.executable, "manage.py", "unlock_login", "--username", user.username],
        capture_output=True,
        text=True,
        env=first.env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert httpx2.post(f"{first.url}/api/auth/token/", json=right, timeout=10).status_code == 200
