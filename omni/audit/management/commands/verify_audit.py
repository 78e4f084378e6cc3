"""``python manage.py verify_audit [--org SLUG] [--no-spool]``: check that no audit event was edited,
deleted or lost.

Walks the whole chain in ``seq`` order, recomputes every hash and checks every link and the chain
head. Then the spool check (``omni.audit.spool.gaps``): every spooled event was numbered by its
process; a number that is neither in the table, nor dead-lettered, nor still waiting in the spool
is reported as ``[lost]``. Prints how many events were verified and, when something is wrong, each
problem (the first broken seq first). Exit status 0: intact; 1: tampered or lost. Read-only, safe
to re-run while writers run.

After retention removed old events, the walk starts at the latest checkpoint
(``privacy.retention_checkpoint``): the first remaining event must link to the hash of the last
removed one, which the checkpoint names; everything from there on is checked as above.

With ``--org`` the walk is the same (links need every row), but only the problems that concern
that organization are reported: its edited rows, broken links from or into its rows, and every
gap, deleted tail or lost spooled event (a deleted or lost event may have been its own).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from omni.audit.chain import chain_events, latest_checkpoint, relevant_to, walk
from omni.audit.models import AuditChainHead, AuditEvent
from omni.audit.spool import get_spool
from omni.audit.spool.gaps import describe, verify_sources


class Command(BaseCommand):
    help = "Verify the audit log (hash chain, spooled events); exit 1 when an event was changed or lost."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--org", metavar="SLUG", help="report only what concerns this organization")
        parser.add_argument("--limit", type=int, default=20, help="show at most this many problems")
        parser.add_argument(
            "--no-spool", action="store_true", help="skip the check of spooled events against the table"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options.get("org")
        spool_report = None
        checkpoint = latest_checkpoint()
        if not options.get("no_spool"):
            removed = checkpoint.sources if checkpoint is not None else None
            spool_report = verify_sources(get_spool().pending_numbers, removed)
        head = AuditChainHead.objects.filter(pk=1).first()
        if checkpoint is not None:
            result = walk(chain_events(after_seq=checkpoint.through_seq), head, checkpoint.start)
            self.stdout.write(
                f"Retention checkpoint (seq {checkpoint.event_seq}): events up to seq "
                f"{checkpoint.through_seq} were removed by policy ({checkpoint.removed_total} in all); "
                "verifying from there on."
            )
        else:
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
        lost = spool_report.lost_count if spool_report is not None else 0
        if spool_report is not None:
            self.stdout.write(
                f"Spool: {spool_report.sources} source(s), {spool_report.expected} events numbered, "
                f"{spool_report.written} written, {spool_report.pending} still in the spool, "
                f"{spool_report.dead} dead-lettered, {lost} lost."
            )
            if spool_report.dead:
                self.stdout.write(
                    self.style.WARNING(
                        f"  {spool_report.dead} event(s) could not be written and are kept as dead letters "
                        "(admin: Audit dead letters)."
                    )
                )
        if result.ok and not lost:
            span = f" (seq {result.first_seq}..{result.last_seq})" if result.first_seq is not None else ""
            self.stdout.write(self.style.SUCCESS(f"OK: {result.checked} events verified in {scope}{span}."))
            return
        problems = len(result.problems) + (len(spool_report.lost) if spool_report is not None else 0)
        first = f"; first broken seq {result.first_broken_seq}" if result.problems else ""
        self.stdout.write(
            self.style.ERROR(
                f"TAMPERED: {problems} problem(s) in {scope}, {result.checked} events checked{first}."
            )
        )
        for problem in sorted(result.problems, key=lambda p: p.seq)[: options["limit"]]:
            self.stdout.write(f"  seq {problem.seq} [{problem.kind}] {problem.message}")
        if spool_report is not None:
            for source, ranges in list(spool_report.lost.items())[: options["limit"]]:
                self.stdout.write(
                    f"  source {source} [lost] events {describe(ranges)} were spooled and are neither in "
                    "the table, nor dead-lettered, nor in the spool (dropped from the spool, or deleted)"
                )
        raise SystemExit(1)
