from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from omni.registry.models import Prompt, Resource, ResourceTemplate, ServerConnection
from omni.registry.services import effective_prompts, effective_servers
from omni.tenants.models import ApiKey, Membership, Organization
from omni.tenants.services import authenticate_api_key
from tests.factories import OrganizationFactory

MODELS = [Organization, Membership, ApiKey, Prompt, Resource, ResourceTemplate, ServerConnection]


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    # Compared before/after within one test, so rows of other tests do not matter.
    counts = {model.__name__: model._base_manager.count() for model in MODELS}
    counts["User"] = get_user_model()._base_manager.count()
    return counts


@pytest.mark.django_db
def test_seed_demo_is_idempotent():
    first = run("seed_demo")
    assert "superuser admin: created, password: " in first
    assert first.count("API key for ") == 2
    after_first = counts()
    second = run("seed_demo")
    assert counts() == after_first
    assert "superuser admin: exists" in second and "--reset-password" in second
    assert "API key for " not in second
    assert "0 created" in second and " created" not in second.replace("0 created", "")


@pytest.mark.django_db
def test_seed_demo_builds_the_demo_world():
    output = run("seed_demo")
    acme = Organization.objects.get(slug="acme")
    globex = Organization.objects.get(slug="globex")
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser
    assert {m.role for m in Membership.objects.filter(user=admin)} == {"owner"}
    assert Membership.objects.filter(user=admin).count() == 2
    for name in ["code_review", "summarize", "explain_error", "write_tests", "meeting_notes", "translate"]:
        assert Prompt.objects.global_only().filter(name=name).exists()
    assert Resource.objects.global_only().filter(uri="image://omni/logo.png", blob__isnull=False).exists()
    acme_prompts = {p.name for p in effective_prompts(acme)}
    globex_prompts = {p.name for p in effective_prompts(globex)}
    assert "acme_incident_report" in acme_prompts and "acme_incident_report" not in globex_prompts
    assert "globex_release_notes" in globex_prompts and "globex_release_notes" not in acme_prompts
    servers = {s.name: s for s in effective_servers(acme)}
    assert {"knowledge", "utilities", "analytics"} <= set(servers)
    assert all(
        servers[n].transport == "inprocess" and servers[n].target == n for n in ("knowledge", "analytics")
    )
    # globex has the fault-injecting server of its own; acme's catalogue has no faulty tools.
    assert "faults" not in servers
    globex_faults = {s.name: s for s in effective_servers(globex)}["faults"]
    assert (globex_faults.organization_id, globex_faults.target, globex_faults.enabled) == (
        globex.pk,
        "faults",
        True,
    )
    keys = [line.rsplit(" ", 1)[1] for line in output.splitlines() if line.startswith("API key for ")]
    assert {authenticate_api_key(raw).org_slug for raw in keys} == {"acme", "globex"}


@pytest.mark.django_db
def test_seed_demo_options():
    run("seed_demo", "--no-keys")
    assert not ApiKey.objects.filter(organization__slug__in=["acme", "globex"]).exists()
    admin = get_user_model().objects.get(username="admin")
    old_hash = admin.password
    output = run("seed_demo", "--no-keys", "--reset-password")
    password = output.split("new password: ")[1].split()[0]
    admin.refresh_from_db()
    assert admin.password != old_hash and admin.check_password(password)


@pytest.mark.django_db
def test_create_api_key_prints_the_key_on_its_last_line():
    org = OrganizationFactory()
    output = run("create_api_key", "--org", org.slug, "--name", "ci", "--scopes", "tools:call, prompts:read")
    raw = output.rstrip("\n").splitlines()[-1]
    ctx = authenticate_api_key(raw)
    assert ctx is not None and ctx.organization == org
    assert ctx.scopes == frozenset({"tools:call", "prompts:read"})
    assert ctx.api_key.name == "ci" and ctx.api_key.expires_at is None


@pytest.mark.django_db
def test_create_api_key_with_expiry():
    org = OrganizationFactory()
    raw = run("create_api_key", "--org", org.slug, "--name", "tmp", "--expires-days", "7").splitlines()[-1]
    key = authenticate_api_key(raw).api_key
    assert key.expires_at is not None and set(key.scopes) == {"tools:call", "prompts:read", "resources:read"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args, message",
    [
        (["--org", "no-such-org", "--name", "x"], "No organization"),
        (["--name", "x", "--scopes", "tools:call,admin"], "admin"),
        (["--name", "x", "--scopes", ","], "(none given)"),
        (["--name", "x", "--expires-days", "0"], "at least 1"),
        (["--name", "  "], "must not be empty"),
    ],
)
def test_create_api_key_errors(args, message):
    org = OrganizationFactory()
    if "--org" not in args:
        args = ["--org", org.slug, *args]
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run("create_api_key", *args)
    assert not ApiKey.objects.for_org(org).exists()
