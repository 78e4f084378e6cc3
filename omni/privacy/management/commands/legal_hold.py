"""``python manage.py legal_hold --org SLUG on|off [--reason TEXT]``: put an organization on legal
hold (retention deletes nothing of it) or lift it, as an operator. Recorded as
``privacy.legal_hold_on`` / ``privacy.legal_hold_off``. Idempotent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from omni.privacy.retention.policy import set_legal_hold


class Command(BaseCommand):
    help = "Put an organization on legal hold (no retention deletion) or lift it."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--org", metavar="SLUG", required=True)
        parser.add_argument("state", choices=["on", "off"])
        parser.add_argument("--reason", default="", help="why (shown on the privacy page)")

    def handle(self, *args: Any, **options: Any) -> None:
        from omni.tenants.models import Organization

        org = Organization.objects.filter(slug=options["org"]).first()
        if org is None:
            raise CommandError(f"no organization {options['org']!r}")
        on = options["state"] == "on"
        if on and not options["reason"].strip():
            raise CommandError("--reason is required to put an organization on legal hold")
        changed = set_legal_hold(
            org, on, reason=options["reason"].strip(), actor="operator (legal_hold command)"
        )
        state = "on legal hold" if on else "not on legal hold"
        self.stdout.write(f"{org.slug} is {state}" + ("." if changed else " (unchanged)."))
