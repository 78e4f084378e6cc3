"""Run a scenario file against an organization and print a readable report.

``manage.py run_scenario scenarios/notes_crud.yaml --org acme [--var title=Hi] [--user alice]``

Exit codes: 0 every step passed; 1 a step failed (or the run stopped with an error); 2 the file,
the organization, the user or a ``--var`` is invalid (nothing is run or stored). The run is stored
as a scenario run with one test run per step, like runs started from the web UI or the API.
Only operators (a shell on the server) run it, so its steps are not charged to the MCP rate limits
that scenario runs from the web UI and the API draw from.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from omni.playground.models import ScenarioRun
from omni.playground.scenario_library import load_shipped, shipped_files
from omni.playground.scenario_spec import ScenarioError, load_scenario_file
from omni.playground.scenarios import operator_context, run_scenario
from omni.tenants.context import OrgContext
from omni.tenants.models import Organization
from omni.tenants.services import resolve_user_context

EXIT_FAILED = 1
EXIT_INVALID = 2


class InvalidInput(Exception):
    """Bad input: exit 2 with this message."""


class Command(BaseCommand):
    help = (
        "Run a scenario (a YAML file, or the name of a shipped one) for an organization. "
        "Exit 0: passed; 1: a step failed; 2: invalid file, organization, user or variable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", help=f"A scenario file, or a shipped name ({', '.join(shipped_files())})."
        )
        parser.add_argument("--org", required=True, help="Organization slug.")
        parser.add_argument(
            "--var",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="Override a variable (repeatable). Values take the type of the variable's default.",
        )
        parser.add_argument(
            "--user",
            help="Run as this member (their role's permissions); default: an operator acting as owner.",
        )
        parser.add_argument(
            "--continue-on-failure",
            action="store_true",
            help="Run every step even after one failed (the scenario's default is to stop).",
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            scenario, origin = self._scenario(options["file"])
            ctx, user = self._context(options["org"], options["user"])
            variables = self._variables(options["var"])
            report = run_scenario(
                ctx,
                scenario,
                variables=variables,
                user=user,
                trigger=ScenarioRun.Trigger.CLI,
                origin=origin,
                stop_on_failure=False if options["continue_on_failure"] else None,
                rate_limit=False,  # operators on the server: not counted against the MCP rate limits
            )
        except (ScenarioError, InvalidInput) as exc:
            raise CommandError(str(exc), returncode=EXIT_INVALID) from None
        except PermissionDenied as exc:
            raise CommandError(f"not allowed: {exc}", returncode=EXIT_INVALID) from None
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2, default=str))
        else:
            self.stdout.write(report.as_text())
        if not report.passed:
            raise CommandError(f"scenario {report.name} {report.status}", returncode=EXIT_FAILED)

    def _scenario(self, file: str):
        if file in shipped_files():
            return load_shipped(file), f"shipped:{file}"
        return load_scenario_file(file), f"file:{file}"

    def _context(self, slug: str, username: str | None) -> tuple[OrgContext, Any]:
        org = Organization.objects.filter(slug=slug).first()
        if org is None:
            raise InvalidInput(f"no organization with slug {slug!r}")
        if username is None:
            return operator_context(org), None
        user = get_user_model().objects.filter(username=username).first()
        try:
            return resolve_user_context(user, slug), user
        except Http404:
            raise InvalidInput(f"user {username!r} is not a member of {slug!r}") from None

    def _variables(self, pairs: list[str]) -> dict[str, str]:
        variables = {}
        for pair in pairs:
            name, sep, value = pair.partition("=")
            if not sep or not name.strip():
                raise InvalidInput(f"--var {pair!r}: use NAME=VALUE")
            variables[name.strip()] = value
        return variables
