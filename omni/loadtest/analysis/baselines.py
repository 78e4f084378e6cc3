"""Baselines: a completed run named as the reference of its profile and target.

The default name is ``"<profile>:<target>"`` (``smoke:gateway``, ``baseline:server:knowledge``);
saving a baseline under a name the organization already uses replaces it. Saves are audited as
``loadtest.baseline_save``.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from omni.audit.services import AuditTarget, record
from omni.loadtest.models import LoadBaseline, LoadRun


class BaselineError(ValueError):
    """The run cannot be a baseline (not finished, or not completed)."""


def default_name(profile: str, target: str = "gateway") -> str:
    return f"{profile}:{target}"[:100]


def save_baseline(run: LoadRun, name: str | None = None, user: Any = None) -> LoadBaseline:
    """Make ``run`` the baseline ``name`` (default ``profile:target``) of its organization."""
    if run.status != LoadRun.Status.COMPLETED:
        raise BaselineError(
            f"only a completed run can be a baseline (this one is {run.get_status_display()})"
        )
    if not (run.report or {}).get("operations"):
        raise BaselineError("the run has no results to compare with")
    name = (name or default_name(run.profile_name, run.target)).strip()[:100]
    if not name:
        raise BaselineError("a baseline needs a name")
    with transaction.atomic():
        previous = (
            LoadBaseline.objects.owned_by(run.organization).select_for_update().filter(name=name).first()
        )
        replaced = str(previous.run.uuid) if previous is not None else None
        if previous is None:
            baseline = LoadBaseline(organization=run.organization, name=name)
        else:
            baseline = previous
        baseline.run = run
        baseline.profile_name = run.profile_name
        baseline.target = run.target
        baseline.created_by = user if getattr(user, "pk", None) else None
        baseline.save()
        record(
            "loadtest.baseline_save",
            organization=run.organization,
            actor=user if getattr(user, "pk", None) else "load tester",
            target=AuditTarget("loadtest.baseline", name, name),
            data={
                "run": str(run.uuid),
                "profile": run.profile_name,
                "target": run.target,
                "replaced": replaced,
            },
        )
    return baseline


def baseline_for(org: Any, name: str) -> LoadBaseline | None:
    """The organization's baseline ``name`` (with its run), or None."""
    return LoadBaseline.objects.for_org(org).select_related("run").filter(name=name).first()


def baseline_of_run(run: LoadRun, name: str | None = None) -> LoadBaseline | None:
    """The baseline ``run`` is compared with: ``name``, else the default of its profile and target."""
    return baseline_for(run.organization, name or default_name(run.profile_name, run.target))
