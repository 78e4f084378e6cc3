"""Seed a demo world: organizations acme and globex, an admin, the global registry (with the three
demo servers), globex's own fault-injecting server, API keys.

Idempotent: what exists is left as it is, so running it again changes nothing and creates no
duplicates. The admin's password is printed when the user is created (or with --reset-password);
an API key per organization is created and printed only while the organization has no active
"demo" key (raw keys are never stored, so an existing one cannot be shown again).
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from omni.registry.models import Prompt, ServerConnection
from omni.registry.seeding import DEMO_ORG_SERVERS, ensure_items, seed_global_registry
from omni.tenants.models import ApiKey, Organization, Role
from omni.tenants.services import add_member, create_api_key

DEMO_ORGS = [("acme", "Acme Corporation"), ("globex", "Globex Corporation")]
DEMO_KEY_NAME = "demo"
ADMIN_USERNAME = "admin"

ORG_PROMPTS: dict[str, dict[str, Any]] = {
    "acme": {
        "name": "acme_incident_report",
        "title": "Acme incident report",
        "description": "Acme's own post-incident report format (only Acme sees this prompt).",
        "arguments": [
            {"name": "summary", "description": "What happened", "required": True},
            {"name": "impact", "description": "Who was affected and how long", "required": False},
        ],
        "messages": [
            {
                "role": "user",
                "content": "Write an Acme incident report.\nWhat happened: {summary}\nImpact: {impact}\n"
                "Sections: Timeline, Root cause, What went well, What to improve, Action items.",
            },
            {
                "role": "assistant",
                "content": "I will keep it blameless and factual, with owners for actions.",
            },
        ],
    },
    "globex": {
        "name": "globex_release_notes",
        "title": "Globex release notes",
        "description": "Globex's release-notes style (only Globex sees this prompt).",
        "arguments": [
            {"name": "changes", "description": "The list of merged changes", "required": True},
            {"name": "version", "description": "The version being released", "required": True},
        ],
        "messages": [
            {
                "role": "user",
                "content": "Write Globex release notes for version {version} from these changes:\n{changes}\n"
                "Group them as New, Improved, Fixed; user-facing wording, no ticket numbers.",
            },
        ],
    },
}


class Command(BaseCommand):
    help = "Create the demo organizations, admin user, global registry and API keys (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-keys", action="store_true", help="Do not create demo API keys.")
        parser.add_argument(
            "--reset-password", action="store_true", help="Give the existing admin user a new password."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            orgs = [self._org(slug, name) for slug, name in DEMO_ORGS]
            admin = self._admin(options["reset_password"])
            for org in orgs:
                add_member(org, admin, Role.OWNER)
            for kind, result in seed_global_registry().items():
                self.stdout.write(f"global {kind}: {result}")
            for org in orgs:
                result = ensure_items(Prompt, org, [ORG_PROMPTS[org.slug]])
                self.stdout.write(f"{org.slug} prompts: {result}")
                if org.slug in DEMO_ORG_SERVERS:
                    result = ensure_items(ServerConnection, org, DEMO_ORG_SERVERS[org.slug])
                    self.stdout.write(f"{org.slug} servers: {result}")
            keys = [] if options["no_keys"] else [(org, self._key(org, admin)) for org in orgs]
        for org, raw in keys:
            if raw:
                self.stdout.write(self.style.SUCCESS(f"API key for {org.slug} (shown once): {raw}"))

    def _org(self, slug: str, name: str) -> Organization:
        org, created = Organization.objects.get_or_create(slug=slug, defaults={"name": name})
        self.stdout.write(f"organization {slug}: {'created' if created else 'exists'}")
        return org

    def _admin(self, reset_password: bool):
        User = get_user_model()
        user = User.objects.filter(username=ADMIN_USERNAME).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_superuser(ADMIN_USERNAME, "admin@example.com", password)
            self.stdout.write(
                self.style.SUCCESS(f"superuser {ADMIN_USERNAME}: created, password: {password}")
            )
        elif reset_password:
            password = secrets.token_urlsafe(12)
            user.set_password(password)
            user.save(update_fields=["password"])
            self.stdout.write(self.style.SUCCESS(f"superuser {ADMIN_USERNAME}: new password: {password}"))
        else:
            self.stdout.write(
                f"superuser {ADMIN_USERNAME}: exists (password unchanged; "
                "run `manage.py seed_demo --reset-password` for a new one)"
            )
        return user

    def _key(self, org: Organization, admin) -> str | None:
        now = timezone.now()
        active = (
            ApiKey.objects.for_org(org)
            .filter(name=DEMO_KEY_NAME, revoked_at__isnull=True)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
            .first()
        )
        if active is not None:
            self.stdout.write(
                f"{org.slug} API key {DEMO_KEY_NAME!r}: exists ({active.prefix}…); a raw key is shown only "
                f"once: `manage.py create_api_key --org {org.slug} --name NAME` makes another"
            )
            return None
        _key, raw = create_api_key(org, DEMO_KEY_NAME, created_by=admin)
        return raw
