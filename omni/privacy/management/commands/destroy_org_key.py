"""Crypto-shredding: destroy an organization's data key (irreversible).

Every encrypted value of the organization — test runs, scenario runs, datasets, invitation
addresses, recorded tool-call arguments — becomes unreadable here and in every backup; reads
raise "data key destroyed" and the UI shows "[erased]". Audited as ``privacy.key_destroyed``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from omni.privacy.crypto import services
from omni.tenants.models import Organization


class Command(BaseCommand):
    help = "Destroy an organization's data key: its encrypted data becomes unreadable for good."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="Organization slug.")
        parser.add_argument("--yes", action="store_true", help="Confirm: this cannot be undone.")

    def handle(self, *args: Any, **options: Any) -> None:
        org = Organization.objects.filter(slug=options["org"]).first()
        if org is None:
            raise CommandError(f"No organization with slug {options['org']!r}.")
        if not options["yes"]:
            raise CommandError(
                "This destroys the organization's encrypted data for good: add --yes to confirm."
            )
        destroyed = services.destroy_org_key(org)
        if destroyed:
            self.stdout.write(f"Destroyed data key(s) {', '.join(destroyed)} of {org.slug}.")
        else:
            self.stdout.write(f"{org.slug} had no live data key (nothing encrypted for it yet).")
