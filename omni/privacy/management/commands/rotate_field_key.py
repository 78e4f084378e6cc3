"""Master key rotation: re-wrap every organization's data key with the current master key.

    1. python manage.py rotate_field_key --new-key          # prints a fresh key
    2. PRIVACY_MASTER_KEYS=NEW,OLD  (new first; restart the processes: both keys now decrypt)
    3. python manage.py rotate_field_key                    # re-wraps every data key with NEW
    4. python manage.py rotate_field_key --check OLD_ID     # 0 dependants: OLD can be removed
    5. PRIVACY_MASTER_KEYS=NEW  (restart)

No downtime: the data is not re-encrypted (only the 32-byte data keys are), and readers accept
any configured master key throughout. Safe to run again: keys already on NEW are skipped.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from omni.privacy.crypto import keys, services
from omni.privacy.crypto.errors import MasterKeyError


class Command(BaseCommand):
    help = (
        "Re-wrap every data key with the first key of PRIVACY_MASTER_KEYS (see --check, --status, --new-key)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--new-key", action="store_true", help="Print a fresh master key and exit.")
        parser.add_argument(
            "--status", action="store_true", help="List master keys and the data keys each wraps."
        )
        parser.add_argument(
            "--check",
            metavar="MASTER_KEY_ID",
            help="Succeed if no live data key depends on this master key any more (it can be retired).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["new_key"]:
            self.stdout.write(keys.new_master_key())
            return
        if options["status"]:
            for use in services.master_key_report():
                state = "current" if use.current else ("configured" if use.configured else "NOT CONFIGURED")
                self.stdout.write(f"{use.master_key_id}  {state:<15} wraps {use.data_keys} data key(s)")
            return
        if options["check"]:
            master_id = options["check"].strip()
            left = keys.dependents(master_id)
            configured = [m.id for m in keys.master_keys()]
            if master_id == configured[0]:
                raise CommandError(f"{master_id} is the current master key (first in PRIVACY_MASTER_KEYS)")
            if left:
                raise CommandError(
                    f"{left} data key(s) still depend on master key {master_id}: run rotate_field_key first"
                )
            self.stdout.write(f"No data key depends on master key {master_id}: it can be retired.")
            return
        try:
            counts = services.rotate_master_key()
        except MasterKeyError as error:
            raise CommandError(str(error)) from error
        current = keys.master_keys()[0].id
        self.stdout.write(
            f"Re-wrapped {counts['rewrapped']} data key(s) with master key {current}; "
            f"{counts['already']} already used it."
        )
        for use in services.master_key_report():
            if not use.current and use.data_keys == 0 and use.configured:
                self.stdout.write(
                    f"Master key {use.master_key_id} wraps no data key any more: it can be retired."
                )
