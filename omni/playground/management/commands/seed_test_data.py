"""Seed deterministic mock organizations (members, prompts, resources, notes, datasets).

``manage.py seed_test_data --orgs 3 --seed 42`` gives the same slugs, names and contents every time
(and on every machine); another ``--seed`` gives other data. Safe to re-run: what exists is reused.
``--org-fixtures`` also loads ``fixtures/orgs/<slug>/prompts.json|resources.json`` into the
organizations of those slugs that exist (for example ``acme`` and ``globex`` after ``seed_demo``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from omni.playground.testdata import ORG_FIXTURES_DIR, load_org_fixtures, seed_test_data

MAX_ORGS = 1000


class Command(BaseCommand):
    help = (
        "Create N deterministic mock organizations with members, prompts, resources, notes and datasets "
        "(same --seed, same data; re-running creates nothing twice)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--orgs", type=int, default=3, help=f"How many organizations (0-{MAX_ORGS}, default 3)."
        )
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")
        parser.add_argument(
            "--password",
            help="Password of every seeded user (default: none, they cannot log in).",
        )
        parser.add_argument(
            "--org-fixtures",
            action="store_true",
            help="Also load fixtures/orgs/<slug>/prompts.json and resources.json into existing orgs.",
        )
        parser.add_argument(
            "--fixtures-dir", type=Path, default=ORG_FIXTURES_DIR, help="Where --org-fixtures reads from."
        )
        parser.add_argument("--json", action="store_true", help="Print the summary as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0 <= options["orgs"] <= MAX_ORGS:
            raise CommandError(f"--orgs must be between 0 and {MAX_ORGS}.")
        if options["org_fixtures"] and not options["fixtures_dir"].is_dir():
            raise CommandError(f"--fixtures-dir {options['fixtures_dir']} is not a directory.")
        try:
            summary = seed_test_data(options["orgs"], options["seed"], password=options["password"])
            fixtures = load_org_fixtures(options["fixtures_dir"]) if options["org_fixtures"] else {}
        except (ValidationError, ValueError) as exc:
            raise CommandError(f"seeding failed: {exc}") from exc

        if options["json"]:
            report = {
                "seed": options["seed"],
                "organizations": summary.organizations,
                "counts": {
                    kind: {"created": len(r.created), "existing": len(r.existing)}
                    for kind, r in summary.counts.items()
                },
                "org_fixtures": {
                    slug: None if results is None else {kind: str(r) for kind, r in results.items()}
                    for slug, results in fixtures.items()
                },
            }
            self.stdout.write(json.dumps(report, indent=2))
            return
        self.stdout.write(f"seed {options['seed']}: {len(summary.organizations)} organization(s)")
        for slug in summary.organizations:
            self.stdout.write(f"  {slug}")
        for line in summary.lines():
            self.stdout.write(line)
        for slug, results in fixtures.items():
            if results is None:
                self.stdout.write(
                    self.style.WARNING(f"fixtures/orgs/{slug}: skipped, no organization {slug!r}")
                )
            else:
                for kind, result in results.items():
                    self.stdout.write(f"fixtures/orgs/{slug} {kind}: {result}")
