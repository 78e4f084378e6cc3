"""The data classes this project ships (registered by ``PrivacyConfig.ready``). Other apps add
theirs through ``registry.register`` (usage rollups, incidents and deliveries, exports).

Session history is not a class with a deletion function: the gateway's sessions live in Redis
(or process memory) and expire ``MCP_SESSION_IDLE_SECONDS`` after their last use; it is listed
so the privacy page says so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db.models import Q

from omni.privacy.retention import audit
from omni.privacy.retention.registry import RetentionClass, register


def _test_runs(org: Any, cutoff: datetime) -> Any:
    return apps.get_model("playground", "TestRun").objects.owned_by(org).filter(created_at__lt=cutoff)


def _scenario_runs(org: Any, cutoff: datetime) -> Any:
    # Unfinished runs stay: a run still going is not history yet.
    model = apps.get_model("playground", "ScenarioRun")
    return model.objects.owned_by(org).filter(started_at__lt=cutoff).exclude(status="running")


def _ended_invitations(org: Any, cutoff: datetime) -> Any:
    model = apps.get_model("tenants", "Invitation")
    ended = Q(expires_at__lt=cutoff) | Q(revoked_at__lt=cutoff) | Q(accepted_at__lt=cutoff)
    return model.objects.owned_by(org).filter(ended)


def _retention_runs(org: Any, cutoff: datetime) -> Any:
    # Finished runs only: a run's own rows are never removed while it is going.
    runs = apps.get_model("privacy", "RetentionRun").objects.filter(
        started_at__lt=cutoff, finished_at__isnull=False
    )
    return runs.owned_by(org) if org is not None else runs


def register_builtin() -> None:
    register(
        RetentionClass(
            name="audit_events",
            label="Audit events",
            default_days=365,
            min_days=30,
            max_days=3650,
            delete_batch=audit.delete_batch,
            count=audit.count_due,
            platform=True,
            description=(
                "Removed oldest first, as a prefix of the one hash chain: an event goes once it and every "
                "event before it are due. A checkpoint event keeps the rest verifiable (verify_audit)."
            ),
        )
    )
    register(
        RetentionClass(
            name="test_runs",
            label="Test runs (playground, API, scenario steps)",
            default_days=90,
            min_days=1,
            max_days=3650,
            queryset=_test_runs,
        )
    )
    register(
        RetentionClass(
            name="scenario_runs",
            label="Scenario runs and their reports",
            default_days=90,
            min_days=1,
            max_days=3650,
            queryset=_scenario_runs,
        )
    )
    register(
        RetentionClass(
            name="expired_invitations",
            label="Ended invitations (expired, revoked or accepted)",
            default_days=30,
            min_days=1,
            max_days=365,
            queryset=_ended_invitations,
            description="Counted from when the invitation ended; pending invitations are never removed.",
        )
    )
    register(
        RetentionClass(
            name="retention_runs",
            label="Records of cleanup runs",
            default_days=180,
            min_days=7,
            max_days=3650,
            queryset=_retention_runs,
            platform=True,
            per_org=False,
        )
    )
    register(
        RetentionClass(
            name="session_history",
            label="MCP sessions (Redis or memory)",
            default_days=1,
            max_days=1,
            per_org=False,
            bounded_by=(
                f"expire {settings.MCP_SESSION_IDLE_SECONDS} s after their last use "
                "(MCP_SESSION_IDLE_SECONDS); nothing to clean up"
            ),
        )
    )
