"""``python manage.py rotate_signing_key [--retire-older-than 1h] [--list]``

Creates a new signing key, which every gateway process starts signing with on its next request.
Older keys stay valid for verification (servers accept every non-retired key, named in the
header), so nothing in flight fails. Once every process signs with the new key, retire the old
ones: here with ``--retire-older-than`` (e.g. ``10m``, ``1h``, ``7d``) or one by one with
``retire_signing_key``. ``--list`` only lists the keys. Prints the key ids, never a secret.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from omni.gateway.models import SigningKey
from omni.gateway.signing_keys import rotate

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([smhd])", value.strip())
    if not match:
        raise CommandError(f"--retire-older-than {value!r}: use a number and s, m, h or d (e.g. 1h)")
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


class Command(BaseCommand):
    help = "Create a new gateway signing key (older keys keep verifying until retired)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--retire-older-than", metavar="DURATION", help="also retire keys older than this"
        )
        parser.add_argument("--list", action="store_true", help="only list the keys")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["list"]:
            age = options.get("retire_older_than")
            key, retired = rotate(retire_older_than=parse_duration(age) if age else None)
            self.stdout.write(self.style.SUCCESS(f"New signing key {key.key_id}."))
            for key_id in retired:
                self.stdout.write(f"Retired {key_id}.")
        for index, key in enumerate(SigningKey.objects.order_by("-created_at", "-id")):
            state = f"retired {key.retired_at:%Y-%m-%d %H:%M:%S}" if key.retired_at else "active"
            signing = " (signs)" if index == 0 and not key.retired_at else ""
            self.stdout.write(f"  {key.key_id}  created {key.created_at:%Y-%m-%d %H:%M:%S}  {state}{signing}")
