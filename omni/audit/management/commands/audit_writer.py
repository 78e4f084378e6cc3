"""``python manage.py audit_writer [--once] [--claim-idle S]``: move spooled audit events into the
database outside the web processes.

Web processes write their own spool (``AUDIT_SPOOL_WRITER=true``, the default), so this command is
for when they do not (``AUDIT_SPOOL_WRITER=false``), or to empty the spool by hand: after a
machine's web processes are gone for good, or to see the counts. ``--once`` writes what is there and
exits (bounded); without it, it runs until SIGTERM/SIGINT. Idempotent and safe to run beside the
web processes' writers (an event written twice is stored once).
"""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand

from omni.audit.spool.writer import Writer, run_once


class Command(BaseCommand):
    help = "Write spooled audit events into the database (--once: what is there now, then exit)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="write what is spooled now, then exit")
        parser.add_argument(
            "--claim-idle",
            type=float,
            default=None,
            metavar="SECONDS",
            help="take over stream entries other writers left unacknowledged this long "
            "(default AUDIT_SPOOL_CLAIM_IDLE)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            stats = run_once(claim_idle=options["claim_idle"])
            self.stdout.write(
                f"written {stats['written']}, duplicates skipped {stats['duplicates']}, "
                f"dead-lettered {stats['dead']}, retries {stats['retries']}"
            )
            return
        writer = Writer(write=True)
        if options["claim_idle"] is not None:
            writer.claim_idle = options["claim_idle"]
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: writer.stop_event.set())
        self.stdout.write("audit writer running (SIGTERM to stop)")
        writer.run()
        writer.spool.files.close()
        self.stdout.write(f"audit writer stopped: {writer.stats}")
