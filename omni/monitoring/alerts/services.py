"""Alerting services: evaluate rules, move incidents through their states, deliver notifications.

Evaluation (``evaluate_all``, run by the beat task every ``ALERT_EVALUATION_INTERVAL`` seconds):
each enabled rule in its own transaction, its row locked with ``SELECT … FOR UPDATE SKIP LOCKED`` so
two workers never evaluate the same rule at once (and the partial unique constraint on an active
incident's dedupe key backs that up). A condition that holds starts the rule's "for" clock
(``pending_since``); once it has held ``for_seconds``, an incident opens (one per rule while it
fires). When the condition clears, the clock stops and the active incident resolves by itself. An
active maintenance window of the rule (or of the server it is scoped to) keeps new incidents from
opening and suppresses notifications; a clearing condition still resolves.

Every rule change, incident transition and delivery is an audit event (``alert.*``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from omni.audit.services import AuditTarget, record
from omni.monitoring.alerts import conditions
from omni.monitoring.alerts.transports import Message, send
from omni.monitoring.models.alerts import (
    AlertRule,
    Delivery,
    Incident,
    MaintenanceWindow,
    NotificationChannel,
)
from omni.privacy.crypto.fields import is_erased

logger = logging.getLogger(__name__)

EVENTS = ("opened", "acknowledged", "resolved", "test")


# --------------------------------------------------------------------------- maintenance
def muting_window(rule: AlertRule, now: datetime) -> MaintenanceWindow | None:
    """The active maintenance window that mutes ``rule`` (its own, or its server's), if any."""
    condition = Q(rule_id=rule.pk)
    server = (rule.params or {}).get("server")
    if server:
        condition |= Q(connection__name=server, connection__organization_id=rule.organization_id)
        if rule.organization_id is not None:
            condition |= Q(connection__name=server, connection__organization__isnull=True)
    windows = MaintenanceWindow.objects.filter(starts_at__lte=now, ends_at__gt=now).filter(condition)
    if rule.organization_id is not None:
        windows = windows.owned_by(rule.organization)
    else:
        windows = windows.global_only()
    return windows.order_by("ends_at").first()


# --------------------------------------------------------------------------- evaluation
def evaluate_all(now: datetime | None = None) -> dict[str, int]:
    """Evaluate every enabled rule once. Returns counts (evaluated, opened, resolved, skipped)."""
    now = now or timezone.now()
    cache: dict[str, Any] = {}
    counts = {"evaluated": 0, "opened": 0, "resolved": 0, "skipped": 0, "muted": 0}
    ids = list(AlertRule.objects.filter(enabled=True).order_by("pk").values_list("pk", flat=True))
    for rule_id in ids:
        try:
            outcome = evaluate_rule(rule_id, now, cache)
        except Exception:
            logger.exception("alert rule %s: evaluation failed", rule_id)
            outcome = "skipped"
        counts["evaluated" if outcome != "skipped" else "skipped"] += 1
        if outcome in ("opened", "resolved", "muted"):
            counts[outcome] += 1
    return counts


def evaluate_rule(rule_id: int, now: datetime, cache: dict[str, Any] | None = None) -> str:
    """Evaluate one rule under its row lock. Returns what happened: "opened", "resolved", "muted",
    "pending", "firing", "ok" or "skipped" (another worker holds it, or it was disabled)."""
    with transaction.atomic():
        rule = (
            AlertRule.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("organization")
            .filter(pk=rule_id, enabled=True)
            .first()
        )
        if rule is None:
            return "skipped"
        observation = conditions.evaluate(rule, now, cache)
        rule.last_evaluated_at = now
        rule.last_value = observation.value
        active = Incident.objects.filter(dedupe_key=rule.dedupe_key, state__in=Incident.ACTIVE).first()
        outcome = "ok"
        if observation.holds:
            if rule.pending_since is None:
                rule.pending_since = now
            held_for = (now - rule.pending_since).total_seconds()
            if active is not None:
                active.evidence = {
                    **observation.evidence,
                    "value": observation.value,
                    "updated_at": now.isoformat(),
                }
                active.save(update_fields=["evidence"])
                outcome = "firing"
            elif held_for < rule.for_seconds:
                outcome = "pending"
            else:
                window = muting_window(rule, now)
                if window is not None:
                    outcome = "muted"
                else:
                    outcome = "opened" if _open_incident(rule, observation, now) else "firing"
        else:
            rule.pending_since = None
            if active is not None:
                resolve(active, now=now, resolution="the condition cleared", evidence=observation.evidence)
                outcome = "resolved"
        rule.save(update_fields=["pending_since", "last_evaluated_at", "last_value"])
    return outcome


def _open_incident(rule: AlertRule, observation: conditions.Observation, now: datetime) -> Incident | None:
    evidence = {
        **observation.evidence,
        "value": observation.value,
        "rule": rule.name,
        "condition": _condition_text(rule),
    }
    try:
        with transaction.atomic():  # a savepoint: a racing opener loses on the unique constraint
            incident = Incident.objects.create(
                organization=rule.organization,
                rule=rule,
                rule_name=rule.name,
                severity=rule.severity,
                dedupe_key=rule.dedupe_key,
                title=(observation.title or rule.name)[:300],
                evidence=evidence,
                opened_at=now,
            )
    except IntegrityError:
        return None
    _audit("alert.incident_open", incident, data={"rule": rule.name, "value": observation.value})
    queue_notifications(incident, "opened")
    return incident


def _condition_text(rule: AlertRule) -> str:
    if rule.kind in conditions.COMPARED:
        return (
            f"{rule.get_kind_display()} {rule.get_comparison_display()} {rule.threshold:g} "
            f"over {rule.window_minutes} min ({rule.scope_text})"
        )
    if rule.kind == "server_down":
        return f"{rule.params.get('server') or 'any server'} down for {rule.threshold:g} min"
    if rule.kind == "pins_held":
        return f"more than {rule.threshold:g} tool definition change(s) held back"
    if rule.kind == "load_regression":
        return "a load test regressed against its baseline or failed its thresholds"
    return "the audit chain does not verify"


# --------------------------------------------------------------------------- transitions
def acknowledge(incident: Incident, user: Any, *, request: Any = None) -> bool:
    """Open → acknowledged (notifications sent). False when it was not open."""
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        if locked.state != Incident.State.OPEN:
            return False
        locked.state = Incident.State.ACKNOWLEDGED
        locked.acknowledged_at = timezone.now()
        locked.acknowledged_by = user
        locked.save(update_fields=["state", "acknowledged_at", "acknowledged_by"])
        _audit("alert.incident_ack", locked, actor=user, request=request)
        queue_notifications(locked, "acknowledged")
    incident.refresh_from_db()
    return True


def resolve(
    incident: Incident,
    *,
    user: Any = None,
    now: datetime | None = None,
    resolution: str = "",
    evidence: dict[str, Any] | None = None,
    request: Any = None,
) -> bool:
    """Active → resolved: by itself (the condition cleared) or by a person. Notifies unless a
    maintenance window mutes the rule."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Incident.objects.select_for_update(of=("self",)).select_related("rule").get(pk=incident.pk)
        if locked.state not in Incident.ACTIVE:
            return False
        locked.state = Incident.State.RESOLVED
        locked.resolved_at = now
        locked.resolved_by = user if getattr(user, "pk", None) else None
        locked.resolution = (resolution or ("resolved by hand" if user else ""))[:200]
        if evidence is not None:
            locked.evidence = {**locked.evidence, "at_resolution": evidence}
        locked.save(update_fields=["state", "resolved_at", "resolved_by", "resolution", "evidence"])
        _audit(
            "alert.incident_resolve",
            locked,
            actor=user or "alerting",
            request=request,
            data={"resolution": locked.resolution},
        )
        if locked.rule is None or muting_window(locked.rule, now) is None:
            queue_notifications(locked, "resolved")
    incident.refresh_from_db()
    return True


def close_incidents(rule: AlertRule, *, user: Any, why: str, request: Any = None) -> int:
    """Resolve the active incident of a rule that was disabled or deleted (nothing would resolve it)."""
    closed = 0
    for incident in Incident.objects.filter(dedupe_key=rule.dedupe_key, state__in=Incident.ACTIVE):
        closed += resolve(incident, user=user, resolution=why, request=request)
    return closed


# --------------------------------------------------------------------------- notifications
def queue_notifications(incident: Incident, event: str) -> int:
    """After commit, one delivery task per enabled channel of the incident's rule."""
    from omni.monitoring.alerts.tasks import deliver_notification

    if incident.rule_id is None:
        return 0
    channel_ids = list(incident.rule.channels.filter(enabled=True).values_list("pk", flat=True))
    for channel_id in channel_ids:
        transaction.on_commit(
            lambda c=channel_id: deliver_notification.delay(c, incident.pk, event, 1), robust=True
        )
    return len(channel_ids)


def queue_test(channel: NotificationChannel, *, user: Any = None, request: Any = None) -> None:
    from omni.monitoring.alerts.tasks import deliver_notification

    record(
        "alert.channel_test", organization=channel.organization, actor=user, target=channel, request=request
    )
    transaction.on_commit(lambda: deliver_notification.delay(channel.pk, None, "test", 1), robust=True)


def backoff(attempt: int) -> float:
    """Seconds before attempt ``attempt + 1``: base · 2^(attempt-1), capped."""
    base = float(settings.ALERT_RETRY_BACKOFF_SECONDS)
    return min(base * (2 ** (attempt - 1)), float(settings.ALERT_RETRY_BACKOFF_MAX_SECONDS))


def incident_url(incident: Incident) -> str:
    base = (settings.OMNI_PUBLIC_URL or "").rstrip("/")
    if incident.organization_id is None:
        return f"{base}/ops/alerts/incidents/{incident.uuid}/"
    return f"{base}/o/{incident.organization.slug}/alerts/incidents/{incident.uuid}/"


def build_message(channel: NotificationChannel, incident: Incident | None, event: str) -> Message:
    if incident is None:
        subject = f"[Omni MCP] Test notification for channel {channel.name}"
        text = "This is a test notification from Omni MCP alerting. If you read it, the channel works."
        payload = {"event": "test", "channel": channel.name, "sent_at": timezone.now().isoformat()}
        return Message("test", subject, text, payload)
    org = incident.organization.slug if incident.organization_id else None
    url = incident_url(incident)
    link = incident.evidence.get("link", "")
    if link.startswith("/"):
        link = settings.OMNI_PUBLIC_URL.rstrip("/") + link
    subject = f"[Omni MCP] [{incident.severity}] {event}: {incident.title}"
    lines = [
        f"Incident {event}: {incident.title}",
        f"Organization: {org or 'platform (global rule)'}",
        f"Rule: {incident.rule_name} ({incident.evidence.get('condition', '')})",
        f"Value: {incident.evidence.get('value')}",
        f"State: {incident.state}; opened {incident.opened_at.isoformat()}",
        f"Incident: {url}",
    ]
    if link:
        lines.append(f"Evidence: {link}")
    payload = {
        "event": event,
        "sent_at": timezone.now().isoformat(),
        "organization": org,
        "incident": {
            "id": str(incident.uuid),
            "title": incident.title,
            "state": incident.state,
            "severity": incident.severity,
            "rule": incident.rule_name,
            "opened_at": incident.opened_at.isoformat(),
            "acknowledged_at": incident.acknowledged_at.isoformat() if incident.acknowledged_at else None,
            "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
            "url": url,
            "evidence": incident.evidence,
        },
    }
    return Message(event, subject, "\n".join(lines), payload)


def deliver(channel_id: int, incident_id: int | None, event: str, attempt: int = 1) -> dict[str, Any]:
    """One attempt: send, write a delivery row and an audit event, schedule the next attempt with
    exponential backoff while attempts remain (``ALERT_RETRY_MAX_ATTEMPTS``)."""
    from omni.monitoring.alerts.tasks import deliver_notification

    channel = NotificationChannel.objects.select_related("organization").filter(pk=channel_id).first()
    if channel is None or not channel.enabled:
        return {"status": "skipped"}
    incident = None
    if incident_id is not None:
        incident = Incident.objects.select_related("organization").filter(pk=incident_id).first()
        if incident is None:
            return {"status": "skipped"}
    result = send(channel, build_message(channel, incident, event))
    max_attempts = int(settings.ALERT_RETRY_MAX_ATTEMPTS)
    now = timezone.now()
    if result.ok:
        status, next_retry = Delivery.Status.SENT, None
    elif result.retryable and attempt < max_attempts:
        status, next_retry = Delivery.Status.FAILED, now + timedelta(seconds=backoff(attempt))
    else:
        status, next_retry = Delivery.Status.GAVE_UP, None
    delivery = Delivery.objects.create(
        organization=channel.organization,
        channel=channel,
        channel_name=channel.name,
        incident=incident,
        event=event,
        attempt=attempt,
        status=status,
        response_code=result.response_code,
        error=result.error[:500],
        next_retry_at=next_retry,
        created_at=now,
    )
    record(
        "alert.delivery",
        organization=channel.organization,
        actor="alerting",
        target=channel,
        data={
            "event": event,
            "incident": str(incident.uuid) if incident else None,
            "attempt": attempt,
            "status": status,
            "response_code": result.response_code,
            "error": result.error[:200],
        },
    )
    if next_retry is not None:
        deliver_notification.apply_async(
            (channel_id, incident_id, event, attempt + 1), countdown=backoff(attempt)
        )
    return {"status": status, "delivery": str(delivery.uuid)}


# --------------------------------------------------------------------------- audit
def _audit(
    action: str,
    incident: Incident,
    *,
    actor: Any = "alerting",
    data: dict[str, Any] | None = None,
    request: Any = None,
) -> None:
    record(
        action,
        organization=incident.organization,
        actor=actor,
        target=AuditTarget("monitoring.incident", str(incident.uuid), incident.title[:200]),
        data={"state": incident.state, "rule": incident.rule_name, **(data or {})},
        request=request,
    )


def audit_rule_change(
    action: str, rule: AlertRule, *, user: Any, request: Any = None, before: dict[str, Any] | None = None
) -> None:
    record(
        action,
        organization=rule.organization,
        actor=user,
        target=rule,
        request=request,
        data={"before": before, "after": rule_snapshot(rule) if action != "alert.rule_delete" else None},
    )


def rule_snapshot(rule: AlertRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "kind": rule.kind,
        "params": rule.params,
        "comparison": rule.comparison,
        "threshold": rule.threshold,
        "for_seconds": rule.for_seconds,
        "severity": rule.severity,
        "enabled": rule.enabled,
        "channels": sorted(c.name for c in rule.channels.all()) if rule.pk else [],
    }


def forget_address(sender: Any = None, *, email: str = "", **kwargs: Any) -> int:
    """A person is erased (``omni.privacy.signals.user_erasing``): remove their address from every
    email channel (the addresses are encrypted, so channels are read and filtered here, not in SQL).
    A channel left with no address is disabled. Returns how many channels changed."""
    address = (email or "").strip().lower()
    if not address:
        return 0
    changed = 0
    channels = NotificationChannel.objects.filter(kind=NotificationChannel.Kind.EMAIL).order_by("pk")
    for channel in channels.iterator(chunk_size=200):
        if is_erased(channel, "emails"):  # its organization's key is destroyed: nothing to remove
            continue
        kept = [item for item in channel.emails or [] if item.strip().lower() != address]
        if len(kept) == len(channel.emails or []):
            continue
        channel.emails = kept
        channel.enabled = channel.enabled and bool(kept)
        channel.save(update_fields=["emails", "enabled", "updated_at"])
        changed += 1
    if changed:
        logger.info("erasure: removed an address from %d notification channel(s)", changed)
    return changed
