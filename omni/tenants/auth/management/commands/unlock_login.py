"""``manage.py unlock_login --username alice`` / ``--ip 203.0.113.7``: lift a login lockout."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from omni.tenants.auth import lockout


class Command(BaseCommand):
    help = "Lift the login lockout of a username and/or an IP address (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", help="the username whose failures and lock are cleared")
        parser.add_argument("--ip", help="the client IP whose failures and lock are cleared")

    def handle(self, *args: Any, username: str | None = None, ip: str | None = None, **options: Any) -> None:
        if not username and not ip:
            raise CommandError("give --username and/or --ip")
        try:
            lockout.unlock(username=username, ip=ip)
        except ValueError as exc:
            raise CommandError(f"--ip: {exc}") from None
        self.stdout.write(f"unlocked: {', '.join(filter(None, [username, ip]))}")
