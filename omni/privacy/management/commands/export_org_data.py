"""``python manage.py export_org_data --org SLUG --out FILE``: an organization's zip, at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from omni.tenants.models import Organization


class Command(BaseCommand):
    help = "Write everything of one organization (credentials excluded) to a zip of JSON files."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--org", required=True, help="the organization's slug")
        parser.add_argument("--out", required=True, help="the zip file to write (refuses to overwrite)")

    def handle(self, *args: Any, **options: Any) -> None:
        from omni.privacy.subjects.services import export_now

        org = Organization.objects.filter(slug=options["org"]).first()
        if org is None:
            raise CommandError(f"no organization {options['org']!r}")
        out = Path(options["out"])
        if out.exists():
            raise CommandError(f"{out} exists: choose another file")
        data = export_now(org=org)
        out.write_bytes(data)
        self.stdout.write(f"Wrote {out} ({len(data)} bytes) for organization {org.slug}.")
