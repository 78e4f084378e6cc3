"""JWT for the REST API: obtain, use, expiry, tampering, refresh rotation, logout, revocation."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import uuid

import httpx2
import pytest
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tests.factories import TEST_PASSWORD, UserFactory

TOKEN, REFRESH, LOGOUT = "/api/auth/token/", "/api/auth/token/refresh/", "/api/auth/logout/"
PROTECTED = "/api/test/mcp"  # a DRF endpoint that needs an authenticated user


@pytest.fixture
def user(db):
    return UserFactory(username=f"jwt-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def api(ip) -> Client:
    return Client(REMOTE_ADDR=ip)


def post(client: Client, url: str, body, **headers):
    return client.post(url, body, content_type="application/json", **headers)


def obtain(client: Client, user) -> dict:
    response = post(client, TOKEN, {"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 200, response.content
    return response.json()


def call_protected(client: Client, access: str):
    # An organization the user does not belong to: an authenticated user gets 404, nobody else gets in.
    return post(
        client,
        PROTECTED,
        {"organization": "no-such-org", "operation": "tools/list"},
        HTTP_AUTHORIZATION=f"Bearer {access}",
    )


def test_obtain_gives_a_short_lived_pair(api, user):
    tokens = obtain(api, user)
    assert tokens["token_type"] == "Bearer" and tokens["access_expires_in"] == 300
    access = AccessToken(tokens["access"])
    assert 290 <= access["exp"] - access["iat"] <= 300
    refresh = RefreshToken(tokens["refresh"])
    assert refresh["exp"] - refresh["iat"] == 24 * 3600
    assert call_protected(api, tokens["access"]).status_code == 404


def test_no_token_is_401_with_www_authenticate(api, db):
    response = post(api, PROTECTED, {"organization": "x", "operation": "tools/list"})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token") or "Bearer" in response["WWW-Authenticate"]


def test_expired_access_token_says_so(api, user):
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-dt.timedelta(seconds=5))
    response = call_protected(api, str(token))
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "token_expired"
    assert "expired" in body["detail"] and "/api/auth/token/refresh/" in body["detail"]


@pytest.mark.parametrize("mangle", ["signature", "payload", "garbage", "refresh-as-access"])
def test_tampered_or_wrong_tokens_are_401(api, user, mangle):
    tokens = obtain(api, user)
    access = tokens["access"]
    head, payload, signature = access.split(".")
    bad = {
        "signature": f"{head}.{payload}.{signature[:-3]}AAA",
        "payload": f"{head}.{payload[:-2]}xx.{signature}",
        "garbage": "not.a.jwt",
        "refresh-as-access": tokens["refresh"],
    }[mangle]
    response = call_protected(api, bad)
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_refresh_rotates_and_the_old_token_is_refused(api, user):
    first = obtain(api, user)
    rotated = post(api, REFRESH, {"refresh": first["refresh"]})
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh"] != first["refresh"] and second["access"]
    assert call_protected(api, second["access"]).status_code == 404
    again = post(api, REFRESH, {"refresh": first["refresh"]})
    assert again.status_code == 401
    assert again.json()["code"] == "token_not_valid" and "blacklisted" in again.json()["detail"]
    assert post(api, REFRESH, {"refresh": second["refresh"]}).status_code == 200


def test_logout_blacklists_the_refresh_token(api, user):
    tokens = obtain(api, user)
    response = post(api, LOGOUT, {"refresh": tokens["refresh"]})
    assert response.status_code == 200 and response.json()["revoked"] == 1
    assert post(api, REFRESH, {"refresh": tokens["refresh"]}).status_code == 401


def test_logout_everywhere_revokes_every_session(api, user):
    laptop, phone = obtain(api, user), obtain(api, user)
    response = post(api, LOGOUT, {"refresh": laptop["refresh"], "everywhere": True})
    assert response.status_code == 200 and response.json()["revoked"] >= 2
    for tokens in (laptop, phone):
        assert post(api, REFRESH, {"refresh": tokens["refresh"]}).status_code == 401


def test_password_change_revokes_access_and_refresh_at_once(api, user):
    tokens = obtain(api, user)
    user.set_password("a-new-password-1234")
    user.save()
    response = call_protected(api, tokens["access"])
    assert response.status_code == 401 and response.json()["code"] == "password_changed"
    refreshed = post(api, REFRESH, {"refresh": tokens["refresh"]})
    assert refreshed.status_code == 401 and refreshed.json()["code"] == "password_changed"


def test_inactive_or_deleted_user_cannot_refresh(api, user):
    tokens = obtain(api, user)
    user.is_active = False
    user.save()
    response = post(api, REFRESH, {"refresh": tokens["refresh"]})
    assert response.status_code == 401 and response.json()["code"] == "no_active_account"
    other = UserFactory(username=f"gone-{uuid.uuid4().hex[:8]}")
    orphan = obtain(api, other)
    other.delete()
    assert post(api, REFRESH, {"refresh": orphan["refresh"]}).status_code == 401


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        (TOKEN, {}, "username"),
        (TOKEN, {"username": "x" * 151, "password": "p"}, "username"),
        (TOKEN, {"username": "a", "password": "p" * 5000}, "password"),
        (TOKEN, ["not", "an", "object"], "non_field_errors"),
        (REFRESH, {}, "refresh"),
        (REFRESH, {"refresh": "x" * 5000}, "refresh"),
        (REFRESH, {"refresh": {"nested": 1}}, "refresh"),
        (LOGOUT, {"refresh": "abc", "everywhere": "maybe"}, "everywhere"),
    ],
)
def test_bad_input_is_400_with_field_errors(api, db, url, body, field):
    response = post(api, url, body)
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_wrong_password_is_a_clear_401(api, user):
    response = post(api, TOKEN, {"username": user.username, "password": "nope"})
    assert response.status_code == 401
    assert response.json() == {
        "detail": "No active account found with the given credentials",
        "code": "no_active_account",
    }


@pytest.mark.live
def test_a_refresh_token_is_single_use_under_concurrency(live_server, committed):
    user = UserFactory(username=f"race-{uuid.uuid4().hex[:10]}")
    tokens = httpx2.post(
        f"{live_server.url}{TOKEN}", json={"username": user.username, "password": TEST_PASSWORD}, timeout=10
    ).json()

    def refresh(_):
        return httpx2.post(f"{live_server.url}{REFRESH}", json={"refresh": tokens["refresh"]}, timeout=20)

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(response.status_code for response in pool.map(refresh, range(6)))
    assert statuses == [200, 401, 401, 401, 401, 401]
