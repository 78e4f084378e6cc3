"""``python manage.py retire_signing_key KEY_ID [--force]``: the key stops verifying everywhere.

Refuses to retire the last active key unless ``--force`` (a new key is then created on first use,
and servers refuse requests signed with the retired one). Idempotent.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from omni.gateway.models import SigningKey
from omni.gateway.signing_keys import retire


class Command(BaseCommand):
    help = "Retire a gateway signing key (MCP servers stop accepting its signatures)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("key_id")
        parser.add_argument("--force", action="store_true", help="retire even the last active key")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            key = retire(options["key_id"], allow_last=options["force"])
        except SigningKey.DoesNotExist:
            raise CommandError(f"no signing key {options['key_id']!r}") from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Retired {key.key_id} ({key.retired_at:%Y-%m-%d %H:%M:%S})."))
