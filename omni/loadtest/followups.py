"""What the start form asked for besides the run itself: the baseline to compare with, and a name
to save the run as a baseline under once it completes.

* "Compare with baseline" uses the execution part's convention (the command's ``--compare`` does
  the same): ``run.comparison = {"baseline": name}`` before the run starts; the finish compares
  with that baseline (without one, with the default ``profile:target`` when it exists).
* "Save as baseline" is recorded in the run's spec (``spec["ui_requests"]["save_as"]``: the
  finish replaces ``comparison``, never the spec) and carried out by ``apply_followups`` when the
  run finishes (and, should that have failed, when its page is opened), once (the run's row is
  locked, the request is marked done). Like the command, a run that regressed or failed its
  thresholds is not saved.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from omni.loadtest import parts
from omni.loadtest.models import LoadRun

logger = logging.getLogger(__name__)
KEY = "ui_requests"


def request_followups(run: LoadRun, *, compare_with: str = "", save_as: str = "") -> None:
    """Remember the start form's choices on ``run`` (before it starts)."""
    fields = []
    if compare_with:
        run.comparison = {**(run.comparison or {}), "baseline": compare_with}
        fields.append("comparison")
    if save_as:
        run.spec = {**(run.spec or {}), KEY: {"save_as": save_as}}
        fields.append("spec")
    if fields:
        run.save(update_fields=fields)


def pending(run: LoadRun) -> dict[str, Any]:
    requests = (run.spec or {}).get(KEY) or {}
    return {} if requests.get("done") else dict(requests)


def apply_followups(run: LoadRun, user: Any = None) -> list[str]:
    """Carry out the requests of a finished run; returns notes for the page (errors included)."""
    if not run.finished or not pending(run):
        return []
    notes: list[str] = []
    with transaction.atomic():
        locked = LoadRun.objects.select_for_update().get(pk=run.pk)
        wanted = pending(locked)
        if not wanted:
            run.refresh_from_db()
            return []
        name = str(wanted.get("save_as") or "")
        outcome = "skipped"
        if locked.status != LoadRun.Status.COMPLETED:
            notes.append(f"Not saved as the baseline “{name}”: the run is {locked.status}.")
        elif locked.verdict in (LoadRun.Verdict.REGRESSED, LoadRun.Verdict.FAILED_THRESHOLDS):
            notes.append(f"Not saved as the baseline “{name}”: the run did not pass.")
        else:
            try:
                with transaction.atomic():  # a savepoint: a failure leaves the run's update alone
                    parts.save_baseline(locked, name, user=user)
                notes.append(f"Saved as the baseline “{name}”.")
                outcome = "saved"
            except Exception as exc:  # a refusal of the analysis part or a missing part: say so
                logger.warning("saving run %s as baseline %s failed: %s", locked.uuid, name, exc)
                notes.append(f"Could not save the baseline “{name}”: {exc}")
                outcome = "failed"
        locked.spec = {**locked.spec, KEY: {**wanted, "done": True, "outcome": outcome}}
        locked.save(update_fields=["spec"])
    run.refresh_from_db()
    return notes
