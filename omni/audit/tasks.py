"""Celery tasks of the audit app."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="omni.audit.tasks.write_audit_spool", ignore_result=True)
def write_audit_spool() -> dict[str, Any]:
    """Write what the audit spool holds now (for deployments whose web processes run with
    ``AUDIT_SPOOL_WRITER=false``; schedule it, or run ``manage.py audit_writer``)."""
    from omni.audit.spool.writer import run_once

    return run_once()
