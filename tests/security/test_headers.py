"""Security headers on every Django response, HSTS only over TLS, and ``check --deploy`` clean."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from omni.security.middleware import DEFAULT_CSP, SecurityHeadersMiddleware, csp_override
from tests.factories import TEST_PASSWORD, UserFactory

ROOT = Path(__file__).resolve().parents[2]


def assert_security_headers(response) -> None:
    assert response["Content-Security-Policy"] == DEFAULT_CSP
    assert "script-src 'self';" in DEFAULT_CSP and "unsafe-inline" not in DEFAULT_CSP
    assert "frame-ancestors 'none'" in DEFAULT_CSP
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]


@pytest.mark.parametrize("path", ["/login/", "/o/nope/", "/healthz", "/api/schema/", "/no-such-page/"])
def test_headers_on_pages_api_and_errors(client_as, world, path):
    response = client_as(world.user("owner")).get(path)
    assert_security_headers(response)


def test_headers_on_403_and_401(world, client_as):
    assert_security_headers(client_as(world.user("viewer")).get(f"/o/{world.org.slug}/access/"))
    assert_security_headers(client_as(None).post("/api/test/mcp", {}, content_type="application/json"))


def test_no_hsts_over_plain_http(settings, client_as, db):
    settings.SECURE_HSTS_SECONDS = 31536000
    assert "Strict-Transport-Security" not in client_as(None).get("/login/")


def test_hsts_behind_a_tls_proxy(settings, client_as, db):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = client_as(None).get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "Strict-Transport-Security" not in client_as(None).get("/login/", HTTP_X_FORWARDED_PROTO="http")


def test_configured_policy_and_report_only(settings):
    request = RequestFactory().get("/")
    settings.OMNI_CSP = "default-src 'none'"
    response = SecurityHeadersMiddleware(lambda r: HttpResponse("x"))(request)
    assert response["Content-Security-Policy"] == "default-src 'none'"
    settings.OMNI_CSP_REPORT_ONLY = True
    response = SecurityHeadersMiddleware(lambda r: HttpResponse("x"))(request)
    assert "Content-Security-Policy" not in response
    assert response["Content-Security-Policy-Report-Only"] == "default-src 'none'"


def test_a_view_may_set_its_own_policy():
    @csp_override("default-src 'self' https://cdn.example")
    def view(request):
        return HttpResponse("x")

    response = SecurityHeadersMiddleware(view)(RequestFactory().get("/"))
    assert response["Content-Security-Policy"] == "default-src 'self' https://cdn.example"


PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x7#Vq2!mZ9pL@4rT8wY$1nB6cK0jH3gF5dS^aQ&eR*uI(oP)zX-_+=~",
    "ALLOWED_HOSTS": "mcp.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://mcp.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
    # The production shape; `check` connects to neither.
    "DATABASE_URL": "postgres://omni@db.invalid:5432/omni",
    "REDIS_URL": "redis://redis.invalid:6379/0",
}


def _check_deploy(extra: dict[str, str], var_dir: Path) -> subprocess.CompletedProcess:
    """``manage.py check --deploy`` in a fresh process with only ``extra`` as configuration."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "omni.settings",
        "OMNI_VAR_DIR": str(var_dir),
        **extra,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = _check_deploy(PRODUCTION_ENV, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_check_deploy_complains_without_them(tmp_path):
    minimal = {key: PRODUCTION_ENV[key] for key in ("DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL")}
    result = _check_deploy(minimal, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in output


@pytest.fixture
def browser_owner(committed):
    """An owner and their organization, committed before the browser starts (the sync Playwright
    API runs an event loop, inside which Django refuses ORM calls)."""
    import uuid

    from omni.tenants.services import add_member, create_organization

    user = UserFactory(username=f"csp-{uuid.uuid4().hex[:8]}")
    org = create_organization(f"csp-{uuid.uuid4().hex[:8]}", "CSP Org")
    add_member(org, user, "owner")
    return user, org


@pytest.mark.live
def test_pages_work_under_the_policy_in_chromium(live_server, browser_owner, page):
    """Log in and walk a few pages in a real browser: no CSP violation is reported."""
    user, org = browser_owner
    violations: list[str] = []
    page.on(
        "console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None
    )
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/o/{org.slug}/")
    for section in ("", "prompts/", "servers/", "access/", "keys/", "playground/"):
        response = page.goto(f"{live_server.url}/o/{org.slug}/{section}")
        assert response.status == 200, section
        assert response.headers["content-security-policy"] == DEFAULT_CSP
        page.wait_for_load_state("networkidle")
    assert violations == []
