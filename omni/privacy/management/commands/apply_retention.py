"""``python manage.py apply_retention [--org SLUG] [--dry-run] [--class NAME …]``: delete what is
older than its retention period, now, as the daily task does.

Prints one line per data class (and organization, with ``--org`` or ``--verbose``) with what it
deleted or, with ``--dry-run``, would delete. Safe to re-run and to run while the task runs (rows
are deleted by locked id batches; nothing is deleted twice). Exit status 1 when a class failed.
See docs/privacy.md "Retention".
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from omni.privacy.models import RetentionRun
from omni.privacy.retention.engine import apply_retention
from omni.privacy.retention.registry import all_classes


class Command(BaseCommand):
    help = "Apply the retention periods now (what the daily task does); --dry-run only counts."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--org", metavar="SLUG", help="only this organization's data")
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be deleted, delete nothing"
        )
        parser.add_argument(
            "--class",
            dest="classes",
            action="append",
            metavar="NAME",
            help="only this data class (repeatable)",
        )
        parser.add_argument("--verbose", action="store_true", help="one line per class and organization")

    def handle(self, *args: Any, **options: Any) -> None:
        from omni.tenants.models import Organization

        org = None
        if options.get("org"):
            org = Organization.objects.filter(slug=options["org"]).first()
            if org is None:
                raise CommandError(f"no organization {options['org']!r}")
        known = {c.name for c in all_classes() if c.deletes}
        for name in options.get("classes") or []:
            if name not in known:
                raise CommandError(f"no retention class {name!r} (known: {', '.join(sorted(known))})")
        dry_run = bool(options.get("dry_run"))
        verbose = bool(options.get("verbose")) or org is not None

        def progress(run: RetentionRun) -> None:
            if verbose or run.status in (RetentionRun.Status.FAILED, RetentionRun.Status.HELD):
                self.stdout.write(f"  {_line(run, dry_run)}")

        summary = apply_retention(
            org=org, dry_run=dry_run, trigger=RetentionRun.Trigger.COMMAND, classes=options.get("classes"),
            progress=progress,
        )  # fmt: skip
        verb = "would delete" if dry_run else "deleted"
        scope = org.slug if org is not None else "all organizations"
        self.stdout.write(f"Retention {'dry run ' if dry_run else ''}for {scope} (run {summary.run_id}):")
        for name, count in summary.by_class().items():
            self.stdout.write(f"{name}: {verb} {count}")
        failed = [run for run in summary.runs if run.status == RetentionRun.Status.FAILED]
        partial = [run for run in summary.runs if run.status == RetentionRun.Status.PARTIAL]
        if partial:
            self.stdout.write(
                self.style.WARNING(
                    f"{len(partial)} class(es) stopped at the batch limit; run again to continue."
                )
            )
        if failed:
            for run in failed:
                self.stdout.write(
                    self.style.ERROR(f"FAILED {run.class_name} {run.org_slug or 'platform'}: {run.error}")
                )
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS(f"Total: {verb} {summary.deleted}."))


def _line(run: RetentionRun, dry_run: bool) -> str:
    where = run.org_slug or "platform"
    if run.status == RetentionRun.Status.HELD:
        return f"{run.class_name} {where}: legal hold, nothing deleted"
    if run.status == RetentionRun.Status.FAILED:
        return f"{run.class_name} {where}: failed: {run.error}"
    verb = "would delete" if dry_run else "deleted"
    return f"{run.class_name} {where}: {verb} {run.deleted} (older than {run.days} days)"
