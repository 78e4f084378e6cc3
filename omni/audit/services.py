"""Recording audit events: ``record`` (sync) and ``arecord`` (async). The only writers of the log.

    record("apikey.revoke", ctx=ctx, target=key)               # in a view or service
    await arecord("mcp.tools_call", ctx=ctx, target=AuditTarget("mcp.tool", name), data={...})

Both copy everything they need *now* (actor, organization slug, target, request id and IP), then
append the event to the chain: inside a transaction, ``record`` waits until it commits (a rolled-back
change leaves no event); outside one it writes at once. Appends take a lock on the one chain-head
row, so writers in every process and thread form a single chain. A failure to write is logged at
ERROR and never breaks the action that was being recorded.

Tool-call arguments (``data["arguments"]``) are kept only when the organization's
``settings["audit_tool_arguments"]`` is ``true``; then they are stored in the form that
``omni.audit.sealing`` gives them (masked and encrypted by the privacy app).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.db import models as dj_models
from django.http import HttpRequest
from django.utils import timezone

from omni.audit import sealing
from omni.audit.chain import clean_text, compute_hash, jsonable, seal
from omni.audit.context import current_scope, request_id_for
from omni.audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from omni.tenants.context import OrgContext

logger = logging.getLogger(__name__)

ACTION_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
ARGUMENTS_SETTING = "audit_tool_arguments"
MAX_ARGUMENTS_BYTES = 16 * 1024


@dataclass(frozen=True)
class Actor:
    type: str  # AuditEvent.ActorType
    id: str = ""
    name: str = ""


SYSTEM = Actor(AuditEvent.ActorType.SYSTEM, "", "system")


@dataclass(frozen=True)
class AuditTarget:
    """What an event is about when it is not a model instance (an MCP tool, a login name…)."""

    type: str
    id: str = ""
    repr: str = ""


# --------------------------------------------------------------------------- resolving the parts
def _actor_of(value: Any) -> Actor | None:
    from omni.tenants.models import ApiKey

    if value is None:
        return None
    if isinstance(value, Actor):
        return value
    if isinstance(value, ApiKey):
        return Actor(AuditEvent.ActorType.API_KEY, str(value.pk), f"{value.prefix} ({value.name})")
    if isinstance(value, OrgContext):
        if value.api_key is not None:
            return _actor_of(value.api_key)
        name = value.principal.split(":", 1)[-1]
        return Actor(AuditEvent.ActorType.USER, str(value.user_id or ""), name)
    if isinstance(value, str):
        return Actor(AuditEvent.ActorType.SYSTEM, "", value)
    if hasattr(value, "get_username"):
        if not getattr(value, "is_authenticated", False):
            return None
        return Actor(AuditEvent.ActorType.USER, str(value.pk), value.get_username())
    raise TypeError(f"cannot name an audit actor from {type(value).__name__}")


def _request_user(request: Any) -> Any:
    return getattr(request, "user", None) if isinstance(request, HttpRequest) else None


def resolve_actor(actor: Any, ctx: OrgContext | None, request: Any) -> Actor:
    """The explicit ``actor``, else the context's key or user, else the request's user, else the
    surrounding ``audit_context`` / middleware request, else ``system``."""
    for candidate in (actor, ctx, _request_user(request)):
        resolved = _actor_of(candidate)
        if resolved is not None:
            return resolved
    scope = current_scope()
    if scope is not None:
        resolved = _actor_of(scope.actor) or _actor_of(_request_user(scope.request))
        if resolved is not None:
            return resolved
    return SYSTEM


def _request_meta(ctx: OrgContext | None, request: Any) -> tuple[str, str]:
    """(request id, client IP) from a Django request or an ASGI scope (or the ambient request)."""
    if request is None:
        scope = current_scope()
        request = scope.request if scope is not None else None
    request_id = ip = ""
    if isinstance(request, HttpRequest):
        request_id, ip = request_id_for(request), request.META.get("REMOTE_ADDR") or ""
    elif isinstance(request, Mapping):  # an ASGI scope (the gateway)
        client = request.get("client") or ("", 0)
        ip = client[0] or ""
        request_id = str(request.get("omni.request_id") or "")
    if ctx is not None:
        request_id = ctx.request_id
    return clean_text(request_id, 64), clean_text(ip, 45)


def _target_parts(target: Any) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, AuditTarget):
        return target.type, target.id, target.repr or target.id
    if isinstance(target, dj_models.Model):
        meta = target._meta
        public = getattr(target, "uuid", None) or getattr(target, "public_id", None)
        if meta.model_name == "organization":
            public = target.slug
        return f"{meta.app_label}.{meta.model_name}", str(public or target.pk), str(target)
    raise TypeError(f"cannot name an audit target from {type(target).__name__}")


def _clean_data(data: Mapping[str, Any] | None, org: Any) -> dict[str, Any]:
    values = dict(data or {})
    if "arguments" in values:
        keep = org is not None and (org.settings or {}).get(ARGUMENTS_SETTING) is True
        if not keep:
            values.pop("arguments")
        else:
            size = len(json.dumps(jsonable(values["arguments"]), ensure_ascii=False).encode())
            if size > MAX_ARGUMENTS_BYTES:
                values["arguments"] = {"_truncated": True, "bytes": size}
            # Masked and encrypted with the organization's key when omni.privacy is installed.
            values["arguments"] = sealing.seal_arguments(jsonable(values["arguments"]), org)
    return jsonable(values)


def build_event(
    action: str,
    *,
    ctx: OrgContext | None = None,
    organization: Any = None,
    actor: Any = None,
    target: Any = None,
    data: Mapping[str, Any] | None = None,
    request: Any = None,
) -> dict[str, Any]:
    """Everything an event says, copied now (``seq``, hashes and time are added when appended)."""
    if not isinstance(action, str) or not ACTION_RE.match(action) or len(action) > 64:
        raise ValueError(f"audit action {action!r} is not a dotted lower-case verb like 'apikey.create'")
    org = organization if organization is not None else (ctx.organization if ctx is not None else None)
    who = resolve_actor(actor, ctx, request)
    target_type, target_id, target_repr = _target_parts(target)
    request_id, ip = _request_meta(ctx, request)
    return {
        "organization_id": org.pk if org is not None else None,
        "org_slug": clean_text(org.slug if org is not None else "", 50),
        "actor_type": who.type,
        "actor_id": clean_text(who.id, 64),
        "actor_name": clean_text(who.name, 200),
        "action": action,
        "target_type": clean_text(target_type, 64),
        "target_id": clean_text(target_id, 64),
        "target_repr": clean_text(target_repr, 200),
        "request_id": request_id,
        "ip": ip,
        "data": _clean_data(data, org),
    }


# --------------------------------------------------------------------------- appending
def _locked_head(using: str) -> AuditChainHead:
    head = AuditChainHead.objects.using(using).select_for_update().filter(pk=1).first()
    if head is None:  # migration 0001 creates it; rebuilt here if somebody removed it
        last = AuditEvent.objects.using(using).order_by("-seq").values("seq", "hash").first()
        AuditChainHead.objects.using(using).get_or_create(
            pk=1,
            defaults={
                "last_seq": last["seq"] if last else 0,
                "last_hash": last["hash"] if last else GENESIS_HASH,
            },
        )
        head = AuditChainHead.objects.using(using).select_for_update().get(pk=1)
    return head


def append(values: Mapping[str, Any], using: str = DEFAULT_DB_ALIAS) -> AuditEvent:
    """Append one event to the chain (serialized by the chain-head row lock) and return it."""
    try:
        return _append_once(values, using)
    except IntegrityError:
        if values.get("organization_id") is None:
            raise
        # The organization was deleted before the event was written: keep the event, with the
        # copied slug only (what on_delete=SET_NULL does to its older events).
        return _append_once({**values, "organization_id": None}, using)


def _append_once(values: Mapping[str, Any], using: str) -> AuditEvent:
    values = sealing.finish(dict(values))
    with transaction.atomic(using=using):
        head = _locked_head(using)
        event = AuditEvent(
            seq=head.last_seq + 1, prev_hash=head.last_hash, created_at=timezone.now(), **values
        )
        seal(event)
        event.hash = compute_hash(event)
        event.save(using=using)
        AuditChainHead.objects.using(using).filter(pk=1).update(last_seq=event.seq, last_hash=event.hash)
    return event


def _append_logged(values: Mapping[str, Any], using: str = DEFAULT_DB_ALIAS) -> AuditEvent | None:
    try:
        return append(values, using)
    except Exception:
        logger.exception("audit event %s could not be written", values.get("action"))
        return None


def record(
    action: str,
    *,
    ctx: OrgContext | None = None,
    organization: Any = None,
    actor: Any = None,
    target: Any = None,
    data: Mapping[str, Any] | None = None,
    request: Any = None,
) -> None:
    """Record an event: after the surrounding transaction commits, or now when there is none.

    A malformed ``action`` or an unknown kind of actor/target raises (a bug in the caller);
    a database failure while writing is logged and swallowed.
    """
    values = build_event(
        action, ctx=ctx, organization=organization, actor=actor, target=target, data=data, request=request
    )
    using = DEFAULT_DB_ALIAS
    if connections[using].in_atomic_block:
        transaction.on_commit(functools.partial(_append_logged, values, using), using=using, robust=True)
    else:
        _append_logged(values, using)


async def arecord(
    action: str,
    *,
    ctx: OrgContext | None = None,
    organization: Any = None,
    actor: Any = None,
    target: Any = None,
    data: Mapping[str, Any] | None = None,
    request: Any = None,
) -> None:
    """``record`` for async code (the gateway): the event is built and written in the ORM's worker
    thread, never on the event loop, and nothing raises into the caller (failures are logged)."""
    try:
        await sync_to_async(_build_and_append)(
            action, ctx=ctx, organization=organization, actor=actor, target=target, data=data, request=request
        )
    except Exception:
        logger.exception("audit event %s could not be recorded", action)


def _build_and_append(action: str, **parts: Any) -> None:
    append(build_event(action, **parts))


def set_tool_argument_recording(org: Any, enabled: bool, *, actor: Any = None, request: Any = None) -> bool:
    """Turn the recording of ``tools/call`` arguments on or off for ``org``; returns whether it
    changed. Recorded as ``org.settings_change`` (after commit)."""
    with transaction.atomic():
        locked = type(org).objects.select_for_update().get(pk=org.pk)
        settings = dict(locked.settings or {})
        before = settings.get(ARGUMENTS_SETTING) is True
        if before == enabled:
            return False
        settings[ARGUMENTS_SETTING] = enabled
        locked.settings = settings
        locked.save(update_fields=["settings"])
        org.settings = settings
        record(
            "org.settings_change",
            organization=org,
            actor=actor,
            target=org,
            request=request,
            data={"setting": ARGUMENTS_SETTING, "before": before, "after": enabled},
        )
    return True
