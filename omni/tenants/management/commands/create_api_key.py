"""Create an API key for an organization. The raw key is printed alone on the last line."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from omni.tenants.models import Organization
from omni.tenants.permissions import API_KEY_SCOPES
from omni.tenants.services import create_api_key


class Command(BaseCommand):
    help = (
        "Create an API key for an organization and print it (shown once, alone on the last line). "
        f"Scopes: {', '.join(API_KEY_SCOPES)} (default: all)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="Organization slug.")
        parser.add_argument("--name", required=True, help="What the key is for, e.g. 'ci' or 'alice laptop'.")
        parser.add_argument("--scopes", help="Comma-separated scopes (default: all).")
        parser.add_argument("--expires-days", type=int, help="Expire after this many days (default: never).")

    def handle(self, *args: Any, **options: Any) -> None:
        org = Organization.objects.filter(slug=options["org"]).first()
        if org is None:
            raise CommandError(f"No organization with slug {options['org']!r}.")
        scopes = None
        if options["scopes"] is not None:
            scopes = [item.strip() for item in options["scopes"].split(",") if item.strip()]
            unknown = sorted(set(scopes) - set(API_KEY_SCOPES))
            if unknown or not scopes:
                raise CommandError(
                    f"Unknown or missing scope(s): {', '.join(unknown) or '(none given)'}. "
                    f"Allowed: {', '.join(API_KEY_SCOPES)}."
                )
        expires_at = None
        if options["expires_days"] is not None:
            if options["expires_days"] < 1:
                raise CommandError("--expires-days must be at least 1.")
            expires_at = timezone.now() + timedelta(days=options["expires_days"])
        name = options["name"].strip()
        if not name:
            raise CommandError("--name must not be empty.")
        try:
            key, raw = create_api_key(org, name, scopes=scopes, expires_at=expires_at)
        except (ValidationError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        expiry = key.expires_at.isoformat(timespec="seconds") if key.expires_at else "never"
        self.stdout.write(
            f"Created API key {key.name!r} for {org.slug}: prefix {key.prefix}, "
            f"scopes {', '.join(key.scopes)}, expires {expiry}."
        )
        self.stdout.write("Store it now, it cannot be shown again:")
        self.stdout.write(raw)
