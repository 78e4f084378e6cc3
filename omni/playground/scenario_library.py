"""Where scenarios come from: the files shipped in ``scenarios/`` and those an organization uploaded.

Shipped scenarios are looked up by name among the files that exist (a name is never joined into a
path unchecked). Uploaded ones are tenant data, read through ``UploadedScenario.objects.for_org``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from omni.playground.models import ScenarioRun, UploadedScenario
from omni.playground.scenario_spec import Scenario, ScenarioError, load_scenario, load_scenario_file
from omni.tenants.context import OrgContext

SHIPPED_DIR = Path(getattr(settings, "SCENARIOS_DIR", Path(settings.BASE_DIR) / "scenarios"))


@dataclass(frozen=True)
class ScenarioEntry:
    """One scenario offered to an organization (shipped or uploaded)."""

    key: str  # "shipped:notes_crud" or "uploaded:<uuid>": what a form posts back
    name: str
    description: str
    kind: str  # shipped | uploaded
    steps: int
    variables: dict
    error: str = ""

    @property
    def variable_fields(self) -> list[dict[str, object]]:
        """The variables as form fields: name, default as text, and whether it needs a textarea."""
        fields = []
        for name, value in self.variables.items():
            text = default_text(value)
            fields.append({"name": name, "text": text, "multiline": "\n" in text})
        return fields

    @property
    def ident(self) -> str:
        """The part after the kind: the shipped name or the uploaded scenario's uuid."""
        return self.key.partition(":")[2]


def default_text(value: object) -> str:
    """A variable's value as a form shows it (and as ``coerce_variable`` reads it back)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def shipped_files() -> dict[str, Path]:
    """Shipped scenario name (file stem) -> file, sorted by name."""
    if not SHIPPED_DIR.is_dir():
        return {}
    return {path.stem: path for path in sorted(SHIPPED_DIR.glob("*.yaml")) if path.is_file()}


def load_shipped(name: str) -> Scenario:
    """The shipped scenario ``name``; ``ScenarioError`` when there is none (or it is invalid)."""
    path = shipped_files().get(name)
    if path is None:
        known = ", ".join(shipped_files()) or "none"
        raise ScenarioError([f"no shipped scenario called {name!r} (shipped: {known})"], name)
    return load_scenario_file(path)


def _entry(key: str, kind: str, text: str, fallback_name: str) -> ScenarioEntry:
    try:
        scenario = load_scenario(text, source=fallback_name)
    except ScenarioError as exc:
        return ScenarioEntry(key, fallback_name, "", kind, 0, {}, error="; ".join(exc.errors))
    return ScenarioEntry(
        key, scenario.name, scenario.description, kind, len(scenario.steps), scenario.variables
    )


def list_scenarios(ctx: OrgContext) -> list[ScenarioEntry]:
    """The shipped scenarios, then the organization's uploaded ones."""
    entries = [
        _entry(f"shipped:{name}", "shipped", path.read_text(encoding="utf-8"), name)
        for name, path in shipped_files().items()
    ]
    for uploaded in UploadedScenario.objects.for_org(ctx).order_by("name"):
        entries.append(_entry(f"uploaded:{uploaded.public_id}", "uploaded", uploaded.text, uploaded.name))
    return entries


def load_entry(ctx: OrgContext, key: str) -> tuple[Scenario, str]:
    """The scenario a listing key names, and its origin; ``ScenarioError`` when there is none."""
    kind, _, ident = key.partition(":")
    if kind == "shipped":
        return load_shipped(ident), key
    if kind == "uploaded":
        uploaded = UploadedScenario.objects.for_org(ctx).filter(public_id=_uuid_or_none(ident)).first()
        if uploaded is not None:
            return load_scenario(uploaded.text, source=uploaded.name), key
    raise ScenarioError([f"no scenario {key!r} in this organization"], key)


def _uuid_or_none(value: str | uuid.UUID) -> str | None:
    if isinstance(value, uuid.UUID):
        return str(value)
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        return None


def save_uploaded(ctx: OrgContext, text: str, *, user: AbstractBaseUser | None) -> UploadedScenario:
    """Validate ``text`` and keep it as the organization's scenario of that name (replacing it)."""
    scenario = load_scenario(text, source="upload")
    if scenario.name in shipped_files():
        raise ScenarioError([f"name: {scenario.name!r} is a shipped scenario; choose another name"], "upload")
    try:
        with transaction.atomic():
            uploaded, _ = UploadedScenario.objects.for_org(ctx).update_or_create(
                name=scenario.name,
                defaults={
                    "organization": ctx.organization,
                    "description": scenario.description,
                    "text": text,
                    "created_by": user if getattr(user, "is_authenticated", False) else None,
                },
            )
    except IntegrityError:  # two uploads of one name at once
        raise ScenarioError(
            [f"name: {scenario.name!r} was just uploaded by someone else"], "upload"
        ) from None
    return uploaded


def delete_uploaded(ctx: OrgContext, public_id: str | uuid.UUID) -> bool:
    deleted, _ = UploadedScenario.objects.for_org(ctx).filter(public_id=_uuid_or_none(public_id)).delete()
    return bool(deleted)


def recent_runs(ctx: OrgContext, limit: int = 20) -> list[ScenarioRun]:
    return list(ScenarioRun.objects.for_org(ctx).order_by("-started_at", "-id")[:limit])


def get_scenario_run(ctx: OrgContext, public_id: str | uuid.UUID) -> ScenarioRun | None:
    ident = _uuid_or_none(public_id)
    if ident is None:
        return None
    return ScenarioRun.objects.for_org(ctx).filter(public_id=ident).first()


def previous_run(ctx: OrgContext, run: ScenarioRun) -> ScenarioRun | None:
    """The organization's run of the same scenario just before ``run`` (to compare step by step)."""
    return (
        ScenarioRun.objects.for_org(ctx)
        .filter(name=run.name, started_at__lt=run.started_at)
        .exclude(pk=run.pk)
        .order_by("-started_at", "-id")
        .first()
    )
