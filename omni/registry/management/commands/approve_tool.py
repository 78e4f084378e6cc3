"""Approve a changed downstream tool, or list the tools held back.

manage.py approve_tool --list
manage.py approve_tool SERVER TOOL [--org SLUG]     (no --org: a global server connection)
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from omni.registry.pins import ToolPin


class Command(BaseCommand):
    help = "Approve a tool whose definition changed since it was pinned (or --list the held-back tools)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("server", nargs="?")
        parser.add_argument("tool", nargs="?")
        parser.add_argument("--org", help="slug of the organization owning the server connection")
        parser.add_argument("--list", action="store_true", help="list held-back tools and exit")

    def handle(
        self, *args, server: str | None, tool: str | None, org: str | None, list: bool, **options
    ) -> None:
        held = ToolPin.objects.filter(status=ToolPin.Status.CHANGED).select_related(
            "connection__organization"
        )
        if list or not server:
            for pin in held:
                owner = pin.connection.organization.slug if pin.connection.organization else "(global)"
                changed = f"{pin.changed_at:%Y-%m-%d %H:%M}"
                self.stdout.write(f"{owner}\t{pin.connection.name}\t{pin.tool_name}\tchanged {changed}")
            if not held:
                self.stdout.write("no tool is held back")
            return
        if not tool:
            raise CommandError("name the tool: approve_tool SERVER TOOL [--org SLUG]")
        pins = held.filter(connection__name=server, tool_name=tool)
        pins = (
            pins.filter(connection__organization__slug=org)
            if org
            else pins.filter(connection__organization=None)
        )
        pin = pins.first()
        if pin is None:
            raise CommandError(
                f"no held-back tool {tool!r} on server {server!r}" + (f" of {org}" if org else "")
            )
        pin.approve()
        self.stdout.write(self.style.SUCCESS(f"approved {server}/{tool}: it is offered again"))
