"""Rate limits of the web UI and the REST API (django-ratelimit on Redis), and ``ahit``/``hit``."""

from __future__ import annotations

import time
import uuid

import pytest
from django.test import Client
from django_ratelimit.core import _get_window

from omni.audit.models import AuditEvent
from omni.security import ratelimit
from omni.tenants.models import Organization
from tests.factories import TEST_PASSWORD, UserFactory
from tests.security.conftest import random_ip

GENEROUS = 100_000


@pytest.fixture
def limits(settings):
    """``limits(ui=3, ...)``: strict limits for the names given, generous ones for the rest."""

    def set_limits(**per_minute: int) -> None:
        values = {name: GENEROUS for name in ratelimit.RATE_LIMIT_NAMES}
        values.update({f"{name}_per_minute": value for name, value in per_minute.items()})
        settings.RATELIMIT_DEFAULTS = values

    return set_limits


def fresh_window(value: str, needed: float = 5.0) -> None:
    """Wait until the per-minute window of ``value`` has at least ``needed`` seconds left, so that a
    test's requests all fall into one window."""
    left = _get_window(value, 60) - time.time()
    if left < needed:
        time.sleep(max(0.0, left) + 1.2)


# --------------------------------------------------------------------------- limits and overrides
def test_validate_rate_limits():
    assert ratelimit.validate_rate_limits({"ui_per_minute": 10, "mcp_per_org_per_minute": 5000}) == []
    assert ratelimit.validate_rate_limits(None) == []
    assert ratelimit.validate_rate_limits([1]) != []
    errors = ratelimit.validate_rate_limits({"ui_per_minute": 0, "nope": 1, "api_per_minute": True})
    assert len(errors) == 3


def test_org_overrides_and_defaults(settings):
    org = Organization(slug="x", settings={"rate_limits": {"mcp_per_key_per_minute": 7, "ui_per_minute": -1}})
    assert ratelimit.limit_for(org, "mcp_per_key_per_minute") == 7
    assert ratelimit.limit_for(org, "ui_per_minute") == settings.RATELIMIT_DEFAULTS["ui_per_minute"]
    assert (
        ratelimit.limit_for(None, "mcp_per_org_per_minute")
        == settings.RATELIMIT_DEFAULTS["mcp_per_org_per_minute"]
    )
    with pytest.raises(ValueError):
        ratelimit.limit_for(org, "bogus")


# --------------------------------------------------------------------------- ahit / hit
def _fresh_hour() -> None:
    if 3600 - time.time() % 3600 < 10:
        time.sleep(11)


async def test_ahit_counts_up_to_the_limit_then_refuses():
    _fresh_hour()
    key = f"test:{uuid.uuid4().hex}"
    results = [await ratelimit.ahit(key, 3, 3600) for _ in range(5)]
    assert results[:3] == [(True, 0)] * 3
    for allowed, retry_after in results[3:]:
        assert allowed is False
        assert 1 <= retry_after <= 3600
    assert await ratelimit.ahit(f"{key}:other", 3, 3600) == (True, 0)


async def test_ahit_and_hit_share_the_counter_and_it_expires():
    key = f"test:{uuid.uuid4().hex}"
    start = time.time()
    assert ratelimit.hit(key, 2, 2) == (True, 0)
    assert await ratelimit.ahit(key, 2, 2) == (True, 0)
    allowed, retry_after = ratelimit.hit(key, 2, 2)
    if time.time() - start < 1:  # still in the same 2-second window
        assert not allowed and 1 <= retry_after <= 2
    time.sleep(2.1)
    assert await ratelimit.ahit(key, 2, 2) == (True, 0)


def test_hit_rejects_bad_arguments():
    for args in (("", 1, 1), ("k", 0, 1), ("k", 1, 0)):
        with pytest.raises(ValueError):
            ratelimit.hit(*args)


def test_hit_is_exact_across_processes():
    """Four processes hit one key 30 times each against a limit of 50: exactly 50 are allowed."""
    import subprocess
    import sys

    _fresh_hour()
    key = f"test:{uuid.uuid4().hex}"
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'omni.settings');"
        "django.setup();"
        "from omni.security.ratelimit import hit;"
        f"print(sum(hit({key!r}, 50, 3600)[0] for _ in range(30)))"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(4)
    ]
    allowed = [int(process.communicate(timeout=120)[0].strip()) for process in processes]
    assert sum(allowed) == 50


# --------------------------------------------------------------------------- the web UI
def test_ui_limit_per_user_and_org_with_friendly_429(
    limits, world, client_as, django_capture_on_commit_callbacks
):
    limits(ui=3)
    owner = world.user("owner")
    client = client_as(owner)
    fresh_window(f"user:{owner.pk}")
    for _ in range(3):
        assert client.get(f"/o/{world.org.slug}/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        refused = client.get(f"/o/{world.org.slug}/")
        assert client.get(f"/o/{world.org.slug}/").status_code == 429
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["Content-Type"].startswith("text/html")
    assert "Too many requests" in refused.content.decode()
    assert AuditEvent.objects.filter(action="ratelimit.hit", actor_id=str(owner.pk)).count() == 1
    # another user is not affected
    assert client_as(world.user("admin")).get(f"/o/{world.org.slug}/").status_code == 200


def test_org_override_applies_to_its_pages(limits, world, client_as):
    limits(ui=GENEROUS - 1)
    world.org.settings = {"rate_limits": {"ui_per_minute": 2}}
    world.org.save()
    ratelimit.forget_org_overrides(world.org.slug)
    owner = world.user("owner")
    client = client_as(owner)
    fresh_window(f"user:{owner.pk}")
    assert [client.get(f"/o/{world.org.slug}/").status_code for _ in range(3)] == [200, 200, 429]
    assert client_as(world.user("outsider")).get(f"/o/{world.other.slug}/").status_code == 200


def test_anonymous_requests_are_limited_per_ip(limits, db, ip):
    limits(anon=2)
    fresh_window(ip)
    client = Client(REMOTE_ADDR=ip)
    assert [client.get("/login/").status_code for _ in range(3)] == [200, 200, 429]
    assert Client(REMOTE_ADDR=random_ip()).get("/login/").status_code == 200


def test_health_checks_are_exempt(limits, db, ip):
    limits(anon=1)
    client = Client(REMOTE_ADDR=ip)
    assert {client.get("/healthz").status_code for _ in range(4)} == {200}


def test_login_posts_are_limited_per_ip(limits, db, ip):
    limits(login=2)
    user = UserFactory(username=f"rl-{uuid.uuid4().hex[:8]}")
    fresh_window(ip)
    client = Client(REMOTE_ADDR=ip)
    for _ in range(2):
        assert client.post("/login/", {"username": user.username, "password": "bad"}).status_code == 200
    refused = client.post("/login/", {"username": user.username, "password": TEST_PASSWORD})
    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session


def test_x_forwarded_for_counts_only_behind_trusted_proxies(settings):
    request = type(
        "R", (), {"META": {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "1.1.1.1, 2.2.2.2"}}
    )()
    settings.RATELIMIT_TRUSTED_PROXY_HOPS = 0
    assert ratelimit.client_ip(request) == "10.0.0.1"
    settings.RATELIMIT_TRUSTED_PROXY_HOPS = 1
    assert ratelimit.client_ip(request) == "2.2.2.2"
    settings.RATELIMIT_TRUSTED_PROXY_HOPS = 2
    assert ratelimit.client_ip(request) == "1.1.1.1"


# --------------------------------------------------------------------------- the REST API
def test_api_limit_per_jwt_user_is_json_429(limits, world, ip):
    limits(api=2)
    client = Client(REMOTE_ADDR=ip)
    user = world.user("viewer")
    tokens = client.post(
        "/api/auth/token/",
        {"username": user.username, "password": TEST_PASSWORD},
        content_type="application/json",
    ).json()
    fresh_window(f"user:{user.pk}")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access']}"}
    body = {"organization": "no-such-org", "operation": "tools/list"}
    statuses = [client.post("/api/test/mcp", body, content_type="application/json", **auth) for _ in range(3)]
    assert [response.status_code for response in statuses] == [404, 404, 429]
    refused = statuses[-1]
    assert refused["Content-Type"] == "application/json"
    assert "throttled" in refused.json()["detail"].lower()
    assert 1 <= int(refused["Retry-After"]) <= 60


def test_token_endpoint_is_limited_per_ip(limits, db, ip):
    limits(login=2)
    fresh_window(ip)
    client = Client(REMOTE_ADDR=ip)
    statuses = [
        client.post(
            "/api/auth/token/", {"username": f"u{i}", "password": "x"}, content_type="application/json"
        ).status_code
        for i in range(3)
    ]
    assert statuses == [401, 401, 429]


@pytest.mark.urls("tests.security.ratelimit_urls")
@pytest.mark.parametrize("path", ["/rl/sync/", "/rl/async/", "/api/rl/drf/"])
def test_decorator_on_sync_async_and_drf_views(limits, db, ip, path):
    limits(login=2)
    fresh_window(ip)
    client = Client(REMOTE_ADDR=ip)
    responses = [client.get(path) for _ in range(3)]
    assert [response.status_code for response in responses] == [200, 200, 429]
    assert responses[-1]["Retry-After"]
    if path.startswith("/api/"):
        assert responses[-1].json()["code"] == "rate_limited"


# --------------------------------------------------------------------------- several processes
@pytest.mark.live
def test_counters_are_shared_by_web_processes(live_server_factory, committed):
    """Two daphne processes on one Redis: the 7th anonymous request is refused, whichever gets it."""
    import httpx2

    env = {"RATELIMIT_ANON_PER_MINUTE": "7", "RATELIMIT_TRUSTED_PROXY_HOPS": "1"}
    first = live_server_factory.start(name="rl-a", env=env)
    second = live_server_factory.start(name="rl-b", env=env)
    client_ip = random_ip()
    fresh_window(client_ip)
    headers = {"X-Forwarded-For": client_ip}
    statuses = [
        httpx2.get(f"{server.url}/login/", headers=headers, timeout=10).status_code
        for server in (first, second) * 4
    ]
    assert statuses == [200] * 7 + [429]
    refused = httpx2.get(f"{first.url}/login/", headers=headers, timeout=10)
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
    assert (
        httpx2.get(f"{second.url}/login/", headers={"X-Forwarded-For": random_ip()}, timeout=10).status_code
        == 200
    )
