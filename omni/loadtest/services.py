"""Starting, cancelling and cleaning up load runs: ``create_run``, ``cancel_run``,
``release_credentials`` (docs/loadtesting.md).

``create_run`` is the one door for the UI, the command, schedules and the API: it resolves the
profile (a name of the organization's ``LoadProfile``, a shipped one, or YAML text), validates it,
checks who may start it (admins of every organization it loads; a platform operator to lift the
bounds), the bounds and the targets, then creates the run, its short-lived API keys and its shards
in one transaction. Dispatching the shards is ``execution.start_run(run)``'s job.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from omni.loadtest import targets
from omni.loadtest.bounds import check_bounds, check_quotas
from omni.loadtest.credentials import release_credentials
from omni.loadtest.errors import RunRefused
from omni.loadtest.models import LoadProfile, LoadRun
from omni.loadtest.planning import plan_shards
from omni.loadtest.profiles import ProfileError, parse_profile, shipped_profiles
from omni.loadtest.profiles.parse import target_problem
from omni.tenants.models import Membership, Organization, Role

TRIGGERS = ("ui", "command", "schedule", "api")
ADMIN_ROLES = (Role.OWNER, Role.ADMIN)

__all__ = [
    "RunRefused",
    "cancel_run",
    "create_run",
    "release_credentials",
    "list_profiles",
    "resolve_profile",
    "save_profile",
]


def list_profiles(org: Organization) -> list[dict[str, Any]]:
    """The profiles ``org`` can run, its own first then the shipped ones it does not override:
    ``{name, title, description, kind ("organization" | "shipped"), profile (the row or None),
    schedule, errors (the validation messages; empty when it parses)}``."""
    entries: list[dict[str, Any]] = []
    own = list(LoadProfile.objects.for_org(org).order_by("name"))
    sources = [(p.name, p.source, "organization", p) for p in own]
    names = {p.name for p in own}
    sources += [
        (name, text, "shipped", None) for name, text in shipped_profiles().items() if name not in names
    ]
    for name, text, kind, row in sources:
        entry: dict[str, Any] = {"name": name, "kind": kind, "profile": row, "errors": []}
        try:
            spec = parse_profile(text, org=org)
        except ProfileError as exc:
            entry.update(
                title=getattr(row, "title", "") or name, description="", schedule="", errors=exc.messages
            )
        else:
            entry.update(title=spec["title"], description=spec["description"], schedule=spec["schedule"])
        entries.append(entry)
    return entries


def save_profile(
    org: Organization, source: str, *, user: Any = None, instance: LoadProfile | None = None
) -> LoadProfile:
    """Validate ``source`` and store it as ``org``'s profile (a new one, or ``instance`` changed):
    name, title, description and schedule come from the YAML. ``ProfileError`` lists every
    problem, also a name another profile of the organization already has."""
    spec = parse_profile(source, org=org)
    taken = LoadProfile.objects.for_org(org).filter(name=spec["name"])
    if instance is not None:
        if instance.organization_id != org.pk:
            raise ValueError("the profile belongs to another organization")
        taken = taken.exclude(pk=instance.pk)
    if taken.exists():
        from omni.loadtest.profiles.source import line_of, load_yaml

        _, root = load_yaml(source)
        where = f"line {line_of(root, ['name'])}, name"
        raise ProfileError([f"{where}: this organization already has a profile called {spec['name']!r}"])
    profile = instance or LoadProfile(organization=org, created_by=user)
    profile.name = spec["name"]
    profile.title = spec["title"]
    profile.description = spec["description"]
    profile.source = source
    profile.schedule = spec["schedule"]
    if not profile.schedule:
        profile.schedule_enabled = False
    profile.save()
    return profile


def resolve_profile(org: Organization, profile: str) -> tuple[LoadProfile | None, str, str]:
    """(the organization's LoadProfile or None, its name, its YAML) for a name or YAML text."""
    stored = LoadProfile.objects.for_org(org).filter(name=profile).first() if "\n" not in profile else None
    if stored is not None:
        return stored, stored.name, stored.source
    shipped = shipped_profiles()
    if profile in shipped:
        return None, profile, shipped[profile]
    if "\n" in profile or ":" in profile:
        return None, "", profile
    known = ", ".join(shipped) or "none"
    raise RunRefused(
        f"no load profile called {profile!r} in organization {org.slug} (shipped profiles: {known})"
    )


def _is_admin(user: Any, org: Organization) -> bool:
    if user.is_superuser:
        return True
    return Membership.objects.for_org(org).filter(user=user, role__in=ADMIN_ROLES).exists()


def _check_permission(user: Any, trigger: str, org: Organization, others: list[Organization]) -> None:
    if user is None:
        if others and trigger != "command":
            raise RunRefused(
                "only a platform operator (or the load_test command) may load other organizations"
            )
        return
    if not _is_admin(user, org):
        raise RunRefused(f"only admins of organization {org.slug} may start its load tests")
    for other in others:
        if not _is_admin(user, other):
            raise RunRefused(
                f"the profile loads organization {other.slug}, which you do not administer "
                "(multi-tenant profiles may only load organizations you are an admin of)"
            )


def _organizations(org: Organization, spec: dict[str, Any]) -> tuple[list[Organization], list[Organization]]:
    """(every organization the run loads, those of them other than ``org``)."""
    slugs = [entry["org"] for entry in spec.get("organizations") or []]
    if not slugs:
        return [org], []
    found = {o.slug: o for o in Organization.objects.filter(slug__in=slugs)}
    missing = [slug for slug in slugs if slug not in found]
    if missing:
        raise RunRefused(
            f"the profile loads organizations that do not exist: {', '.join(missing)} "
            "(seed_test_data --orgs N makes the seeded ones)"
        )
    loaded = [found[slug] for slug in slugs]
    return loaded, [o for o in loaded if o.pk != org.pk]


def create_run(
    org: Organization,
    profile: str,
    *,
    target: str | None = None,
    user: Any = None,
    trigger: str = "ui",
    raise_limits: bool = False,
    shards: int | None = None,
    base_url: str | None = None,
) -> LoadRun:
    """Validate, check and create a run with its keys and shards; ``RunRefused`` says why not.

    ``target`` (``"gateway"`` or ``"server:<name>"``) overrides the profile's own (``None``, the
    default, keeps it); ``raise_limits`` lifts the organization's bounds and exempts the run's keys
    from the per-minute MCP limits, and is only for a platform operator: a superuser ``user``, or
    ``user=None`` with ``trigger="command"``.
    """
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}")
    if raise_limits and not (
        (user is None and trigger == "command") or (user is not None and user.is_superuser)
    ):
        raise RunRefused("only a platform operator may lift an organization's load-test bounds")
    stored, name, text = resolve_profile(org, profile)
    try:
        spec = parse_profile(text, org=org)
    except ProfileError as exc:
        raise RunRefused("the profile is not valid: " + "; ".join(exc.messages), exc.messages) from None
    if target is not None and target != spec["target"]:
        problem = target_problem(target)
        if problem:
            raise RunRefused(problem)
        spec["target"] = target
        if target != "gateway":
            spec["direct"] = None  # measuring a server alone only makes sense next to the gateway
    if shards is not None:
        if shards < 1:
            raise RunRefused("a run needs at least one shard")
        spec["shards"] = shards
    if base_url:
        spec["gateway_url"] = base_url.rstrip("/")
    loaded, others = _organizations(org, spec)
    _check_permission(user, trigger, org, others)
    with transaction.atomic():
        # One run at a time per organization is counted under a lock on the organization's row.
        Organization.objects.select_for_update().filter(pk=org.pk).first()
        if not raise_limits:
            running = LoadRun.objects.for_org(org).exclude(status__in=LoadRun.FINISHED).count()
            check_bounds(org, spec, running=running)
        targets.check_targets(loaded, spec, base_url)
        check_quotas(loaded, spec)
        run = LoadRun.objects.create(
            organization=org,
            profile=stored,
            profile_name=name or spec["name"],
            spec=spec,
            target=spec["target"],
            trigger=trigger,
            raised_limits=raise_limits,
            created_by=user,
        )
        plan_shards(run, base_url=base_url)
    return run


def cancel_run(run: LoadRun) -> None:
    """Ask ``run`` to stop: its running shards poll the flag and return what they measured (kept
    in the partial report), queued ones are revoked and skipped, a run none of whose shards started
    ends now; the run's keys are revoked when it finishes (``execution.request_cancel``)."""
    from omni.loadtest.execution import request_cancel

    request_cancel(run)
    run.refresh_from_db()
