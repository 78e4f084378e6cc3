"""``python manage.py verify_audit [--org SLUG]``: check that no audit event was edited or deleted.

Walks the whole chain in ``seq`` order, recomputes every hash and checks every link and the chain
head. Prints how many events were verified and, when something is wrong, each problem with its
seq (the first broken seq first). Exit status 0: intact; 1: tampered. Read-only, safe to re-run.

With ``--org`` the walk is the same (links need every row), but only the problems that concern
that organization are reported: its edited rows, broken links from or into its rows, and every
gap or deleted tail (a deleted row may have been its own).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from omni.audit.chain import chain_events, relevant_to, walk
from omni.audit.models import AuditChainHead, AuditEvent


class Command(BaseCommand):
    help = "Verify the audit log's hash chain; exit 1 when an event was edited or deleted."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--org", metavar="SLUG", help="report only what concerns this organization")
        parser.add_argument("--limit", type=int, default=20, help="show at most this many problems")

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options.get("org")
        head = AuditChainHead.objects.filter(pk=1).first()
        result = walk(chain_events(), head)
        scope = "the audit log"
        if slug:
            # By the copied slug: the events of a deleted organization are still its own.
            seqs = list(AuditEvent.objects.filter(org_slug=slug).values_list("seq", flat=True))
            if not seqs and not AuditEvent.objects.filter(organization__slug=slug).exists():
                from omni.tenants.models import Organization

                if not Organization.objects.filter(slug=slug).exists():
                    raise CommandError(f"no organization and no audit events for {slug!r}")
            result = relevant_to(result, seqs)
            scope = f"the audit events of {slug}"
        if result.ok:
            span = f" (seq {result.first_seq}..{result.last_seq})" if result.first_seq is not None else ""
            self.stdout.write(self.style.SUCCESS(f"OK: {result.checked} events verified in {scope}{span}."))
            return
        self.stdout.write(
            self.style.ERROR(
                f"TAMPERED: {len(result.problems)} problem(s) in {scope}, {result.checked} events checked; "
                f"first broken seq {result.first_broken_seq}."
            )
        )
        for problem in sorted(result.problems, key=lambda p: p.seq)[: options["limit"]]:
            self.stdout.write(f"  seq {problem.seq} [{problem.kind}] {problem.message}")
        raise SystemExit(1)
