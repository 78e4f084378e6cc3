"""Every URL of the project against every kind of caller: anonymous, outsider, each role.

The URLs are discovered by walking the resolver, so a new view is tested the moment it is routed
— and this test fails until the view is classified in ``CLASSIFICATION`` below (what it requires).
Expected answers: anonymous callers are sent to the login page (401 for the API), outsiders get
404 on every organization URL (no leak of existence), a role without the capability gets 403 on
GET and POST, a role with it never gets 401/403 and never a 5xx. ``tests/ui/test_matrix.py`` checks
the successful statuses of the UI views with real objects; this test checks that nothing is
missed. The role table itself is in ``docs/permissions.md`` (checked against the code here too).
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from omni.registry.access import MANAGE_CAPABILITY as ACCESS_MANAGE
from omni.tenants.permissions import (
    AUDIT_READ,
    KEYS_MANAGE,
    LOADTEST_READ,
    LOADTEST_RUN,
    MEMBERS_MANAGE,
    ORG_MANAGE,
    PRIVACY_MANAGE,
    PROMPTS_READ,
    REGISTRY_READ,
    REGISTRY_WRITE,
    RESOURCES_READ,
    ROLE_CAPABILITIES,
    TOOLS_CALL,
    USAGE_READ,
)
from tests.factories import UserFactory
from tests.security.conftest import ROLES

ROOT = Path(__file__).resolve().parents[2]

PUBLIC = "public"  # anyone, no login
LOGIN = "login"  # any logged-in user, no organization
SUPERUSER = "superuser"  # platform admins; everyone else (logged in) gets 404
SUPERUSER_API = "superuser-api"  # the same for an API: anonymous 401, others 404
API = "api"  # REST API for authenticated users; the organization is in the body
ANY_MEMBER = "any-member"  # every role of the organization
NETWORK = "network"  # /metrics: METRICS_TOKEN or an address in METRICS_ALLOW_CIDRS, logged in or not
OWNER = "owner"  # owners only (exporting or deleting the whole organization)

CLASSIFICATION: dict[str, str] = {
    "healthz": PUBLIC,
    "readyz": PUBLIC,  # 200, or 503 with a JSON body when a dependency is down
    "metrics": NETWORK,
    "tenants:login": PUBLIC,
    "auth_api:token": PUBLIC,
    "auth_api:token_refresh": PUBLIC,
    "auth_api:logout": PUBLIC,
    "api-schema": PUBLIC,
    "api-docs": PUBLIC,
    "tenants:home": LOGIN,
    "tenants:logout": PUBLIC,  # POST only; logging out when not logged in is harmless
    "audit:global_log": SUPERUSER,
    "audit:global_export": SUPERUSER,
    "audit:global_event": SUPERUSER,
    "playground:api-test-mcp": API,
    "playground:api-test-scenarios": API,
    # /o/<slug>/...
    "tenants:dashboard": ANY_MEMBER,
    "tenants:members": ANY_MEMBER,
    "tenants:invite_create": MEMBERS_MANAGE,
    "tenants:invite_revoke": MEMBERS_MANAGE,
    "tenants:invite_accept": PUBLIC,
    "tenants:member_role": MEMBERS_MANAGE,
    "tenants:member_remove": MEMBERS_MANAGE,
    "tenants:org_settings": ORG_MANAGE,
    "tenants:keys": ANY_MEMBER,
    "tenants:key_create": KEYS_MANAGE,
    "tenants:key_revoke": KEYS_MANAGE,
    "registry:servers": REGISTRY_READ,
    "registry:server_create": REGISTRY_WRITE,
    "registry:server_detail": REGISTRY_READ,
    "registry:server_edit": REGISTRY_WRITE,
    "registry:server_tools": TOOLS_CALL,
    "registry:server_test": TOOLS_CALL,
    "registry:server_toggle": REGISTRY_WRITE,
    "registry:server_allowlist": REGISTRY_WRITE,
    "registry:server_delete": REGISTRY_WRITE,
    "registry:server_override": REGISTRY_WRITE,
    "registry:prompts": PROMPTS_READ,
    "registry:prompt_create": REGISTRY_WRITE,
    "registry:prompt_detail": PROMPTS_READ,
    "registry:prompt_edit": REGISTRY_WRITE,
    "registry:prompt_preview": PROMPTS_READ,
    "registry:prompt_delete": REGISTRY_WRITE,
    "registry:prompt_override": REGISTRY_WRITE,
    "registry:resources": RESOURCES_READ,
    "registry:resource_create": REGISTRY_WRITE,
    "registry:resource_detail": RESOURCES_READ,
    "registry:resource_edit": REGISTRY_WRITE,
    "registry:resource_content": RESOURCES_READ,
    "registry:resource_delete": REGISTRY_WRITE,
    "registry:resource_override": REGISTRY_WRITE,
    "access:rules": ACCESS_MANAGE,
    "access:rule_delete": ACCESS_MANAGE,
    "audit:log": AUDIT_READ,
    "audit:settings": ORG_MANAGE,
    "privacy:encryption": ORG_MANAGE,
    "privacy:masking": ORG_MANAGE,
    "audit:export": AUDIT_READ,
    "audit:event": AUDIT_READ,
    "playground:playground": REGISTRY_READ,
    "playground:history": REGISTRY_READ,
    "playground:diff": REGISTRY_READ,
    "playground:run": REGISTRY_READ,
    "playground:rerun": REGISTRY_READ,
    "playground:analytics": REGISTRY_READ,
    "playground:scenarios": REGISTRY_READ,
    "playground:scenario_run": REGISTRY_READ,
    "playground:scenario_upload": REGISTRY_WRITE,
    "playground:scenario_delete": REGISTRY_WRITE,
    "playground:scenario_run_detail": REGISTRY_READ,
    # alerts and incidents (omni/monitoring/urls_alerts.py): members read, org managers change
    **{
        f"alerts_{name}": REGISTRY_READ
        for name in ("incidents", "incident", "rules", "channels", "maintenance")
    },
    **{
        f"alerts_{name}": ORG_MANAGE
        for name in (
            "incident_ack",
            "incident_resolve",
            "rule_create",
            "rule_edit",
            "rule_delete",
            "channel_create",
            "channel_edit",
            "channel_delete",
            "channel_test",
            "maintenance_create",
            "maintenance_delete",
        )
    },
    **{
        f"ops_alerts_{name}": SUPERUSER
        for name in (
            "incidents",
            "incident",
            "incident_ack",
            "incident_resolve",
            "rules",
            "rule_create",
            "rule_edit",
            "rule_delete",
            "channels",
            "channel_create",
            "channel_edit",
            "channel_delete",
            "channel_test",
            "maintenance",
            "maintenance_create",
            "maintenance_delete",
        )
    },
    "privacy": AUDIT_READ,
    "privacy_retention": PRIVACY_MANAGE,
    "privacy_legal_hold": PRIVACY_MANAGE,
    "usage:org": USAGE_READ,
    "usage:ops": SUPERUSER,
    "ops-health": SUPERUSER,
    "ops-health-json": SUPERUSER_API,
    # Data-subject rights (omni/privacy/subjects): the person's own account, and owners.
    "privacy:account": LOGIN,
    "privacy:account_export": LOGIN,
    "privacy:account_erase": LOGIN,
    "privacy:account_cancel": LOGIN,
    "privacy:download": LOGIN,  # a bad, used or expired link: 410
    "privacy:all_requests": SUPERUSER,
    "privacy:org_requests": OWNER,
    "privacy:org_export": OWNER,
    "privacy:org_delete": OWNER,
    "privacy:org_cancel": OWNER,
    # load tests (omni/loadtest/urls.py): members read, owners and admins run and edit
    **{
        f"loadtest:{name}": LOADTEST_READ
        for name in ("runs", "run", "run_export", "profiles", "profile", "compare", "trend", "baselines")
    },
    **{
        f"loadtest:{name}": LOADTEST_RUN
        for name in (
            "start",
            "run_cancel",
            "run_baseline",
            "profile_create",
            "profile_edit",
            "profile_delete",
            "baseline_delete",
        )
    },
}

# Values for URL parameters: the organization's slug, ids that match nothing.
FILLERS = {
    "slug": None,
    "username": "nobody-here",
    "fmt": "csv",
    "token": "not-a-real-token",
    "profile": "no-such-profile",
    "baseline": "no-such-baseline",
}
SKIPPED_NAMESPACES = {"admin"}  # Django's admin: staff only, its own tests


def discover() -> list[tuple[str, str, list[str]]]:
    """(name, route, parameter names) of every named URL outside the skipped namespaces."""
    found = []

    def walk(resolver: URLResolver, prefix: str, namespace: str | None) -> None:
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                ns = namespace
                if pattern.namespace:
                    ns = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
                if ns in SKIPPED_NAMESPACES:
                    continue
                walk(pattern, prefix + str(pattern.pattern), ns)
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
                params = re.findall(r"<(?:(\w+):)?(\w+)>", route)
                found.append((name or f"(unnamed) {route}", route, params))

    walk(get_resolver(), "", None)
    return found


URLS = discover()


def test_every_url_is_classified():
    names = [name for name, _, _ in URLS]
    unclassified = sorted(set(names) - set(CLASSIFICATION))
    assert not unclassified, f"classify these URLs in CLASSIFICATION: {unclassified}"
    stale = sorted(set(CLASSIFICATION) - set(names))
    assert not stale, f"these classified URLs no longer exist: {stale}"
    assert len(names) == len(set(names)), "two URLs share a name"


def fill(route: str, params: list[tuple[str, str]], slug: str) -> str:
    path = route
    for converter, name in params:
        if converter == "uuid":
            value = str(uuid.uuid4())
        elif name == "slug":
            value = slug
        elif name in FILLERS:
            value = FILLERS[name]
        else:
            raise AssertionError(f"no filler for URL parameter <{converter}:{name}> in {route}")
        path = re.sub(rf"<(?:\w+:)?{name}>", value, path, count=1)
    return "/" + path


def client_for(user, ip: str) -> Client:
    client = Client(REMOTE_ADDR=ip)
    if user is not None:
        client.force_login(user)
    return client


def request(client: Client, method: str, path: str):
    if method == "get":
        return client.get(path)
    if path.startswith("/api/"):
        return client.post(path, {}, content_type="application/json")
    return client.post(path, {})


def allowed(role: str, requirement: str) -> bool:
    if requirement == OWNER:
        return role == "owner"
    return requirement == ANY_MEMBER or requirement in ROLE_CAPABILITIES[role]


@pytest.mark.parametrize(("name", "route", "params"), URLS, ids=[name for name, _, _ in URLS])
def test_url_answers_each_caller_as_classified(world, ip, name, route, params):
    requirement = CLASSIFICATION.get(name)
    if requirement is None:
        pytest.fail(f"{name} is not classified (see test_every_url_is_classified)")
    path = fill(route, params, world.org.slug)
    anonymous = client_for(None, ip)
    outsider = client_for(world.user("outsider"), ip)
    seen = {}
    tested = []
    for method in ("get", "post"):
        anon = request(anonymous, method, path)
        seen[("anonymous", method)] = anon.status_code
        assert anon.status_code < 500, (name, method, "anonymous", anon.status_code)
        if anon.status_code == 405:
            # The view refuses the method before it looks at the caller: the same answer for
            # everybody and every organization (nothing leaks), and nothing to check here.
            for who in ("outsider", *ROLES):
                other = request(client_for(world.user(who), ip), method, path)
                assert other.status_code == 405, (name, method, who, other.status_code)
            continue
        tested.append(method)
        if requirement == PUBLIC:
            assert anon.status_code not in (401, 403), (name, method, anon.status_code)
            if method == "get":  # (POST /logout/ sends you to the login page, as it should)
                assert not (anon.status_code == 302 and anon["Location"].startswith("/login/")), name
            continue
        if requirement == NETWORK:
            # The test address is outside the default allow-list (loopback): refused, whoever asks.
            assert anon.status_code == 403, (name, method, anon.status_code)
            owner = request(client_for(world.user("owner"), ip), method, path)
            assert owner.status_code == 403, (name, method, "owner", owner.status_code)
            assert request(client_for(None, "127.0.0.1"), method, path).status_code == 200, name
            continue
        if requirement == SUPERUSER_API:
            assert anon.status_code == 401, (name, method, anon.status_code)
            for who in ("outsider", "owner"):
                response = request(client_for(world.user(who), ip), method, path)
                assert response.status_code == 404, (name, method, who, response.status_code)
            admin = UserFactory(username=f"root-{uuid.uuid4().hex[:8]}", is_superuser=True, is_staff=True)
            response = request(client_for(admin, ip), method, path)
            assert response.status_code not in (401, 403) and response.status_code < 500, (name, method)
            continue
        if requirement == API:
            assert anon.status_code == 401, (name, method, anon.status_code)
            logged_in = request(client_for(world.user("viewer"), ip), method, path)
            assert logged_in.status_code in (400, 405), (name, method, logged_in.status_code)
            continue
        assert anon.status_code == 302 and anon["Location"].startswith("/login/"), (name, method, anon)
        if requirement == LOGIN:
            response = request(outsider, method, path)
            assert response.status_code not in (401, 403, 404) and response.status_code < 500, (name, method)
            continue
        if requirement == SUPERUSER:
            for who in ("outsider", "owner"):
                response = request(client_for(world.user(who), ip), method, path)
                assert response.status_code == 404, (name, method, who, response.status_code)
            admin = UserFactory(username=f"root-{uuid.uuid4().hex[:8]}", is_superuser=True, is_staff=True)
            response = request(client_for(admin, ip), method, path)
            assert response.status_code not in (401, 403) and response.status_code < 500, (name, method)
            continue
        # An organization URL.
        response = request(outsider, method, path)
        assert response.status_code == 404, (name, method, "outsider", response.status_code)
        for role in ROLES:
            response = request(client_for(world.user(role), ip), method, path)
            status = response.status_code
            seen[(role, method)] = status
            if allowed(role, requirement):
                assert status not in (401, 403) and status < 500, (name, method, role, status)
                if method == "get" and status == 302:
                    assert not response["Location"].startswith("/login/"), (name, role)
            else:
                assert status == 403, (name, method, role, status)
    assert tested, f"{name}: neither GET nor POST reached the view"
    object_free = all(name_ in ("slug", "fmt") for _, name_ in params)
    if (
        requirement not in (PUBLIC, API, LOGIN, SUPERUSER, SUPERUSER_API, NETWORK)
        and object_free
        and "get" in tested
    ):
        # A page about no particular object: the roles that may use it get it, not a 404.
        for role in ROLES:
            if allowed(role, requirement):
                assert seen[(role, "get")] != 404, (name, role, seen)


def test_the_documented_role_table_matches_the_code():
    """docs/permissions.md's capability table says what ROLE_CAPABILITIES says."""
    text = (ROOT / "docs" / "permissions.md").read_text()
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^\|\s*`([a-z]+:[a-z]+)`\s*\|(.+)\|\s*$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")][:4]
    capabilities = set().union(*ROLE_CAPABILITIES.values())
    assert set(rows) == capabilities
    for capability, cells in rows.items():
        for role, cell in zip(("owner", "admin", "member", "viewer"), cells, strict=True):
            assert (cell == "✓") == (capability in ROLE_CAPABILITIES[role]), (capability, role, cell)
