"""What the start form asked to happen once a run is finished: compare it with a named baseline,
save it as a baseline.

``create_run`` takes no such options, so the start view records them on the run
(``LoadRun.comparison["requested"]``) and ``apply_followups`` carries them out the first time the
finished run is looked at (the run page, its exports), once: it locks the run's row, and the
requests are removed when done. A comparison the execution part already made is kept.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from omni.loadtest import parts
from omni.loadtest.models import LoadBaseline, LoadRun

logger = logging.getLogger(__name__)
REQUESTED = "requested"


def request_followups(run: LoadRun, *, compare_with: str = "", save_as: str = "") -> None:
    """Remember the start form's choices on ``run`` (nothing when neither is given)."""
    wanted = {k: v for k, v in (("compare_with", compare_with), ("save_as", save_as)) if v}
    if not wanted:
        return
    LoadRun.objects.filter(pk=run.pk).update(comparison={**(run.comparison or {}), REQUESTED: wanted})
    run.comparison = {**(run.comparison or {}), REQUESTED: wanted}


def pending(run: LoadRun) -> dict[str, str]:
    return dict((run.comparison or {}).get(REQUESTED) or {})


def _verdict(result: dict[str, Any]) -> str:
    verdict = str(result.get("verdict") or "")
    return {
        "passed": LoadRun.Verdict.PASSED,
        "regressed": LoadRun.Verdict.REGRESSED,
        "thresholds": LoadRun.Verdict.FAILED_THRESHOLDS,
    }.get(verdict, "")


def apply_followups(run: LoadRun, user: Any = None) -> list[str]:
    """Carry out the requests of a completed run; returns notes for the page (errors included)."""
    if run.status != LoadRun.Status.COMPLETED or not pending(run):
        return []
    notes: list[str] = []
    with transaction.atomic():
        locked = LoadRun.objects.select_for_update().get(pk=run.pk)
        wanted = pending(locked)
        if not wanted:
            run.refresh_from_db()
            return []
        comparison = {k: v for k, v in (locked.comparison or {}).items() if k != REQUESTED}
        verdict = locked.verdict
        name = wanted.get("compare_with")
        if name and not comparison:
            baseline = (
                LoadBaseline.objects.for_org(locked.organization)
                .filter(name=name)
                .select_related("run")
                .first()
            )
            if baseline is None:
                notes.append(f"The baseline “{name}” no longer exists: not compared.")
            elif parts.compare is None:
                notes.append("Comparisons are not available in this build.")
            else:
                thresholds = (locked.spec or {}).get("thresholds")
                comparison = parts.compare(locked.report, baseline.run.report, thresholds)
                comparison.setdefault("baseline", name)
                verdict = _verdict(comparison) or verdict
        locked.comparison = comparison
        locked.verdict = verdict
        locked.save(update_fields=["comparison", "verdict"])
        save_as = wanted.get("save_as")
        if save_as:
            try:
                with transaction.atomic():  # a savepoint: a failure leaves the run's update alone
                    parts.save_baseline(locked, save_as, user=user)
                notes.append(f"Saved as the baseline “{save_as}”.")
            except Exception as exc:  # a clash or a missing part: say so, keep the run
                logger.warning("saving run %s as baseline %s failed: %s", locked.uuid, save_as, exc)
                notes.append(f"Could not save the baseline “{save_as}”: {exc}")
    run.refresh_from_db()
    return notes
