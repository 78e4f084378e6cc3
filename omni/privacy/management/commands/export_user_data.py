"""``python manage.py export_user_data --user USERNAME --out FILE``: a person's zip, at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Write everything the platform holds about one user to a zip of JSON files (with a README)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--user", required=True, help="username")
        parser.add_argument("--out", required=True, help="the zip file to write (refuses to overwrite)")

    def handle(self, *args: Any, **options: Any) -> None:
        from omni.privacy.subjects.services import export_now

        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"no user named {options['user']!r}")
        out = Path(options["out"])
        if out.exists():
            raise CommandError(f"{out} exists: choose another file")
        data = export_now(user=user)
        out.write_bytes(data)
        self.stdout.write(f"Wrote {out} ({len(data)} bytes) for user #{user.pk}.")
