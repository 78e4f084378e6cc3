"""``manage.py seed_test_data``: deterministic per seed, different across seeds, idempotent."""

from __future__ import annotations

import io
import json
import shutil

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from mcp_servers.models import Dataset, Note
from omni.playground.testdata import ORG_FIXTURES_DIR, dump_organizations, load_org_fixture_dir
from omni.registry.models import Prompt, Resource
from omni.registry.services import get_prompt, get_resource
from omni.tenants.models import Membership, Organization
from omni.tenants.services import create_organization, delete_organization


def seed(*args: str) -> dict:
    out = io.StringIO()
    call_command("seed_test_data", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def wipe(slugs: list[str]) -> None:
    """Remove everything a seed made, so the next one starts from nothing."""
    usernames = list(
        Membership.objects.filter(organization__slug__in=slugs).values_list("user__username", flat=True)
    )
    for org in Organization.objects.filter(slug__in=slugs):
        delete_organization(org)
    for slug in slugs:
        Note.objects.for_org(slug).delete()
        Dataset.objects.for_org(slug).delete()
    get_user_model().objects.filter(username__in=usernames).delete()


def test_same_seed_same_data(db):
    first = seed("--orgs", "3", "--seed", "4242")
    slugs = first["organizations"]
    assert len(slugs) == 3 and len(set(slugs)) == 3
    dump = dump_organizations(slugs)
    for org in dump:
        assert org["members"] and org["prompts"] and org["resources"] and org["notes"] and org["datasets"]
        assert "owner" in {role for _, role in org["members"]}
    wipe(slugs)
    assert dump_organizations(slugs) == []

    again = seed("--orgs", "3", "--seed", "4242")
    assert again["organizations"] == slugs
    assert dump_organizations(slugs) == dump
    assert again["counts"] == first["counts"]


def test_another_seed_gives_other_data(db):
    a = seed("--orgs", "2", "--seed", "1")
    b = seed("--orgs", "2", "--seed", "2")
    assert set(a["organizations"]).isdisjoint(b["organizations"])
    dump_a = dump_organizations(a["organizations"])
    dump_b = dump_organizations(b["organizations"])
    assert [o["name"] for o in dump_a] != [o["name"] for o in dump_b]
    assert [o["notes"] for o in dump_a] != [o["notes"] for o in dump_b]


def test_rerunning_creates_nothing_twice(db):
    first = seed("--orgs", "2", "--seed", "99")
    before = dump_organizations(first["organizations"])
    second = seed("--orgs", "2", "--seed", "99")
    assert second["organizations"] == first["organizations"]
    assert all(count["created"] == 0 for count in second["counts"].values()), second["counts"]
    assert sum(count["existing"] for count in second["counts"].values()) == sum(
        count["created"] for count in first["counts"].values()
    )
    assert dump_organizations(first["organizations"]) == before


def test_seeded_data_is_usable(db):
    report = seed("--orgs", "1", "--seed", "5", "--password", "seeded-pw-123")
    (slug,) = report["organizations"]
    org = Organization.objects.get(slug=slug)
    prompt = Prompt.objects.owned_by(org).first()
    prompt.full_clean()  # placeholders match the declared arguments
    resource = Resource.objects.owned_by(org).first()
    resource.full_clean()
    user = Membership.objects.for_org(org).select_related("user").first().user
    assert user.check_password("seeded-pw-123")
    dataset = Dataset.objects.for_org(slug).first()
    assert all(len(row) == len(dataset.columns) for row in dataset.rows)


def test_readable_summary_and_bad_arguments(db):
    out = io.StringIO()
    call_command("seed_test_data", "--orgs", "1", "--seed", "8", stdout=out)
    text = out.getvalue()
    assert text.startswith("seed 8: 1 organization(s)")
    assert "organizations: 1 created, 0 already there" in text and "notes:" in text
    with pytest.raises(CommandError, match="--orgs must be between"):
        call_command("seed_test_data", "--orgs", "-1")


def test_org_fixtures_load_into_existing_organizations(db, tmp_path):
    org = create_organization("fixture-org-test", "Fixture Org")
    shutil.copytree(ORG_FIXTURES_DIR / "acme", tmp_path / org.slug)
    (tmp_path / "no-such-org-anywhere").mkdir()
    report = seed("--orgs", "0", "--org-fixtures", "--fixtures-dir", str(tmp_path))
    assert report["org_fixtures"] == {
        org.slug: {"prompts": "2 created, 0 already there", "resources": "2 created, 0 already there"},
        "no-such-org-anywhere": None,
    }
    assert get_prompt(org, "acme_support_reply") is not None
    assert get_resource(org, "docs://acme/handbook").text.startswith("# Acme engineering handbook")
    again = seed("--orgs", "0", "--org-fixtures", "--fixtures-dir", str(tmp_path))
    assert again["org_fixtures"][org.slug]["prompts"] == "0 created, 2 already there"


@pytest.mark.parametrize("slug", sorted(p.name for p in ORG_FIXTURES_DIR.iterdir() if p.is_dir()))
def test_shipped_org_fixtures_are_valid(db, slug):
    org = create_organization(f"{slug}-fixture-check", slug.title())
    results = load_org_fixture_dir(org, ORG_FIXTURES_DIR / slug)
    assert set(results) == {"prompts", "resources"}
    assert all(result.created and not result.existing for result in results.values())
