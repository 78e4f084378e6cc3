"""Celery tasks of data-subject requests (ids in, JSON serializer; enqueued after commit)."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="omni.privacy.subjects.tasks.build_export")
def build_export(dsr_id: int) -> str:
    """Build the zip of one export request and make its one-time link ready."""
    from omni.privacy.subjects.services import build

    dsr = build(dsr_id)
    return dsr.state if dsr is not None else "missing"


@shared_task(name="omni.privacy.subjects.tasks.process_due_requests")
def process_due_requests() -> dict[str, int]:
    """Carry out the erasures whose grace period is over, and expire unused export links."""
    from omni.privacy.subjects.services import carry_out, due_erasures, expire_links

    done = 0
    for dsr_id in due_erasures():
        try:
            if carry_out(dsr_id) is not None:
                done += 1
        except Exception:
            logger.exception("data-subject request %s failed", dsr_id)
    return {"erasures": done, "links_expired": expire_links()}
