"""``python manage.py delete_org --org SLUG --yes``: delete an organization now (no grace period)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from omni.tenants.models import Organization


class Command(BaseCommand):
    help = "Delete an organization at once: every row, Redis key and session of it."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--org", required=True, help="the organization's slug")
        parser.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")

    def handle(self, *args: Any, **options: Any) -> None:
        from omni.privacy.subjects.services import delete_org_now

        if not options["yes"]:
            raise CommandError("deletion cannot be undone: add --yes to confirm")
        org = Organization.objects.filter(slug=options["org"]).first()
        if org is None:
            raise CommandError(f"no organization {options['org']!r}")
        result = delete_org_now(org)
        rows = sum(result.rows.values())
        tables = len([name for name, count in result.rows.items() if count])
        self.stdout.write(
            f"Deleted {result.slug}: {rows} row(s) in {tables} table(s), "
            f"{result.sessions} MCP session(s) ended, {result.redis_keys} Redis key(s) deleted."
        )
        for name, count in sorted(result.rows.items()):
            if count:
                self.stdout.write(f"  {name}: {count}")
