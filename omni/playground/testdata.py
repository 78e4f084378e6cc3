"""Deterministic mock data for tests and demos (``manage.py seed_test_data``).

``seed_test_data(orgs=N, seed=S)`` builds N organizations, each with members, prompts, resources,
notes and datasets, from a seeded ``Faker`` and ``random.Random(seed)`` only: the same seed gives the
same slugs, names and contents on every machine; another seed gives other data. Re-running reuses
what exists (organizations and users by slug/username, prompts by name, resources by URI, notes by
title, datasets by name) and creates nothing twice.

``load_org_fixtures`` reads ``fixtures/orgs/<slug>/prompts.json`` and ``resources.json`` into the
organization of that slug (the same list-of-objects format as ``fixtures/demo_*.json``).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.text import slugify
from faker import Faker

from mcp_servers.models import Dataset, Note
from omni.registry.models import Prompt, Resource
from omni.registry.seeding import SeedResult, ensure_items
from omni.tenants.models import Membership, Organization, Role
from omni.tenants.services import add_member

ORG_FIXTURES_DIR = Path(settings.BASE_DIR) / "fixtures" / "orgs"
ROLES_AFTER_OWNER = (Role.ADMIN, Role.MEMBER, Role.MEMBER, Role.VIEWER)
REGIONS = ("north", "south", "east", "west")
PRODUCTS = ("widget", "gadget", "gizmo")


@dataclass
class SeedSummary:
    """What one run created and found, per kind, and the organizations it covers."""

    organizations: list[str] = field(default_factory=list)
    counts: dict[str, SeedResult] = field(default_factory=dict)

    def tally(self, kind: str, key: str, created: bool) -> None:
        result = self.counts.setdefault(kind, SeedResult())
        (result.created if created else result.existing).append(key)

    def merge(self, kind: str, result: SeedResult) -> None:
        target = self.counts.setdefault(kind, SeedResult())
        target.created += result.created
        target.existing += result.existing

    def lines(self) -> list[str]:
        return [f"{kind}: {result}" for kind, result in self.counts.items()]


class _Generator:
    """All randomness of one seed: call order is fixed, so the output is too."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)

    def organization(self) -> tuple[str, str]:
        name = self.fake.company()
        base = slugify(name)[:30].strip("-") or "org"
        return f"{base}-{self.rng.randrange(16**6):06x}", name

    def username(self, slug_suffix: str, index: int) -> str:
        return f"{slugify(self.fake.user_name())[:20]}-{slug_suffix}-{index}"

    def prompt(self, index: int) -> dict[str, Any]:
        topic_word = slugify(self.fake.word()).replace("-", "_") or "topic"
        return {
            "name": f"{topic_word}_brief_{index}",
            "title": self.fake.catch_phrase()[:200],
            "description": self.fake.sentence(nb_words=10),
            "arguments": [
                {"name": "subject", "description": "What the brief is about", "required": True},
                {"name": "audience", "description": "Who reads it", "required": False},
            ],
            "messages": [
                {
                    "role": "user",
                    "content": f"{self.fake.sentence(nb_words=8)} Write a brief about {{subject}} "
                    f"for {{audience}}. Mention {self.fake.bs()}.",
                },
                {"role": "assistant", "content": self.fake.sentence(nb_words=12)},
            ],
        }

    def resource(self, slug: str, index: int) -> dict[str, Any]:
        word = slugify(self.fake.word()) or "doc"
        paragraphs = "\n\n".join(self.fake.paragraphs(nb=self.rng.randint(1, 3)))
        return {
            "uri": f"docs://{slug}/{word}-{index}",
            "name": f"{word}-{index}",
            "title": self.fake.sentence(nb_words=4).rstrip("."),
            "description": self.fake.sentence(nb_words=8),
            "mime_type": "text/markdown",
            "text": f"# {word.title()}\n\n{paragraphs}\n",
        }

    def note(self) -> dict[str, Any]:
        tags = sorted({slugify(w) for w in self.fake.words(nb=self.rng.randint(1, 3))} - {""})
        return {
            "title": self.fake.sentence(nb_words=5).rstrip(".")[:200],
            "body": "\n\n".join(self.fake.paragraphs(nb=self.rng.randint(1, 3))),
            "tags": tags,
        }

    def dataset(self, index: int) -> dict[str, Any]:
        columns = [
            {"name": "region", "type": "string"},
            {"name": "product", "type": "string"},
            {"name": "units", "type": "number"},
            {"name": "revenue", "type": "number"},
            {"name": "returned", "type": "bool"},
        ]
        rows = []
        for _ in range(self.rng.randint(8, 20)):
            units = self.rng.randint(1, 200)
            price = self.rng.choice((2.5, 4.0, 9.99))
            rows.append(
                [
                    self.rng.choice(REGIONS),
                    self.rng.choice(PRODUCTS),
                    units,
                    round(units * price, 2),
                    self.rng.random() < 0.1,
                ]
            )
        return {"name": f"sales-{index}", "columns": columns, "rows": rows}


def _ensure_user(username: str, password: str | None, summary: SeedSummary):
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    created = user is None
    if created:
        user = User(username=username, email=f"{username}@example.test")
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
    summary.tally("users", username, created)
    return user


def _seed_org(gen: _Generator, password: str | None, summary: SeedSummary) -> Organization:
    slug, name = gen.organization()
    existed = Organization.objects.filter(slug=slug).exists()
    org = Organization.objects.filter(slug=slug).first() or Organization(slug=slug, name=name)
    if not existed:
        org.full_clean()
        org.save()
    summary.tally("organizations", slug, not existed)
    summary.organizations.append(slug)
    suffix = slug.rsplit("-", 1)[-1]

    roles = [Role.OWNER, *ROLES_AFTER_OWNER[: gen.rng.randint(1, len(ROLES_AFTER_OWNER))]]
    for index, role in enumerate(roles):
        user = _ensure_user(gen.username(suffix, index), password, summary)
        existing = Membership.objects.for_org(org).filter(user=user).exists()
        add_member(org, user, role)
        summary.tally("memberships", f"{user.username}@{slug}", not existing)

    prompts = [gen.prompt(i) for i in range(gen.rng.randint(2, 4))]
    summary.merge("prompts", ensure_items(Prompt, org, prompts))
    resources = [gen.resource(slug, i) for i in range(gen.rng.randint(2, 3))]
    summary.merge("resources", ensure_items(Resource, org, resources))

    for data in [gen.note() for _ in range(gen.rng.randint(3, 8))]:
        _, created = Note.objects.for_org(slug).get_or_create(
            title=data["title"], defaults={**data, "org_slug": slug}
        )
        summary.tally("notes", data["title"], created)
    for data in [gen.dataset(i) for i in range(gen.rng.randint(1, 2))]:
        _, created = Dataset.objects.for_org(slug).get_or_create(
            name=data["name"], defaults={**data, "org_slug": slug}
        )
        summary.tally("datasets", f"{slug}/{data['name']}", created)
    return org


def seed_test_data(orgs: int, seed: int, *, password: str | None = None) -> SeedSummary:
    """Create (or find again) ``orgs`` deterministic organizations with all their data."""
    if orgs < 0:
        raise ValueError("--orgs must be 0 or more")
    gen = _Generator(seed)
    summary = SeedSummary()
    with transaction.atomic():
        for _ in range(orgs):
            _seed_org(gen, password, summary)
    return summary


# --------------------------------------------------------------------------- organization fixtures
def _read_list(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ValueError(f"{path} must hold a JSON list of objects")
    return data


def load_org_fixture_dir(org: Organization, directory: Path) -> dict[str, SeedResult]:
    """``prompts.json`` and ``resources.json`` of ``directory`` as ``org``'s own items (idempotent)."""
    results: dict[str, SeedResult] = {}
    for kind, model in (("prompts", Prompt), ("resources", Resource)):
        path = directory / f"{kind}.json"
        if path.exists():
            results[kind] = ensure_items(model, org, _read_list(path))
    return results


def load_org_fixtures(directory: Path = ORG_FIXTURES_DIR) -> dict[str, dict[str, SeedResult] | None]:
    """Every ``<directory>/<slug>/`` into the organization ``slug``; None for a missing organization."""
    loaded: dict[str, dict[str, SeedResult] | None] = {}
    if not directory.is_dir():
        return loaded
    with transaction.atomic():
        for org_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
            org = Organization.objects.filter(slug=org_dir.name).first()
            loaded[org_dir.name] = load_org_fixture_dir(org, org_dir) if org is not None else None
    return loaded


# --------------------------------------------------------------------------- a comparable dump
def dump_organizations(slugs: list[str]) -> list[dict[str, Any]]:
    """What the seed produced for ``slugs``, without ids or timestamps (to compare two runs)."""
    out = []
    for org in Organization.objects.filter(slug__in=slugs).order_by("slug"):
        out.append(
            {
                "slug": org.slug,
                "name": org.name,
                "members": sorted(
                    (m.user.username, m.role) for m in Membership.objects.for_org(org).select_related("user")
                ),
                "prompts": [
                    [p.name, p.title, p.description, p.arguments, p.messages]
                    for p in Prompt.objects.owned_by(org).order_by("name")
                ],
                "resources": [
                    [r.uri, r.name, r.title, r.mime_type, r.text]
                    for r in Resource.objects.owned_by(org).order_by("uri")
                ],
                "notes": sorted([n.title, n.body, n.tags] for n in Note.objects.for_org(org.slug)),
                "datasets": [
                    [d.name, d.columns, d.rows] for d in Dataset.objects.for_org(org.slug).order_by("name")
                ],
            }
        )
    return out
