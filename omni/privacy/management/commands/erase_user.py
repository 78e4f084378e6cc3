"""``python manage.py erase_user --user USERNAME --yes``: erase a person now (no grace period)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Erase a user at once: account, memberships, API keys, sessions, JWTs and their personal "
        "data; their audit events stay in the chain with the personal fields erased."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--user", required=True, help="username")
        parser.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")

    def handle(self, *args: Any, **options: Any) -> None:
        from omni.privacy.subjects.erasure import LastOwnerError
        from omni.privacy.subjects.services import erase_user_now

        if not options["yes"]:
            raise CommandError("erasure cannot be undone: add --yes to confirm")
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"no user named {options['user']!r}")
        pk = user.pk
        try:
            result = erase_user_now(user)
        except LastOwnerError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Erased user #{pk}: {result.keys} API key(s), {result.sessions} session(s), "
            f"{result.tokens} refresh token(s), {result.memberships} membership(s), "
            f"{result.invitations} invitation(s) received, {result.runs} run(s) anonymised, "
            f"{result.audit_events} audit event(s) erased"
            + (
                f", {result.audit_kept_v1} event(s) of chain version 1 kept unchanged"
                if result.audit_kept_v1
                else ""
            )
            + "."
        )
