"""Playground services: run an operation and store it as a test run; history queries; diffs.

Views, the API and the websocket consumer call these; they never touch ``TestRun`` directly.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.http import Http404

from omni.playground.models import ScenarioRun, TestRun
from omni.playground.operations import OPERATIONS, RAW, clean_params
from omni.playground.runner import EventSink, RunResult, run_operation
from omni.privacy.crypto.redaction import mask_text, masks_personal_data, redact
from omni.security.buckets import McpRateLimited, charge_mcp
from omni.tenants.context import OrgContext
from omni.tenants.permissions import require


def _username(ctx: OrgContext, user: AbstractBaseUser | None) -> str:
    if user is not None and getattr(user, "is_authenticated", False):
        return user.get_username()
    return ctx.principal


def _bounded(value: Any) -> Any:
    """``value``, or a preview of it when its JSON is larger than PLAYGROUND_MAX_STORED_BYTES."""
    limit = int(getattr(settings, "PLAYGROUND_MAX_STORED_BYTES", 1024 * 1024))
    text = json.dumps(value)
    if len(text) <= limit:
        return value
    return {"_truncated": True, "size": len(text), "preview": text[: min(limit, 64 * 1024)]}


def build_run(ctx: OrgContext, result: RunResult, *, user: AbstractBaseUser | None, source: str) -> TestRun:
    """An unsaved ``TestRun`` of ``result``."""
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    return TestRun(
        organization=ctx.organization,
        user=user if authenticated else None,
        username=_username(ctx, user),
        source=source,
        operation=result.operation,
        target=result.target[:500],
        request=_bounded({**result.request, "protocol": result.protocol}),
        response=_bounded(result.response) if result.response is not None else None,
        error=result.error_text,
        outcome=result.outcome,
        duration_ms=result.duration_ms,
        validation=_bounded(result.validation),
        events=_bounded(result.events),
    )


def mask_run(run: TestRun) -> TestRun:
    """Mask secrets (and personal data, if the organization asked) in what the run stores."""
    org = run.organization
    personal = masks_personal_data(org)
    run.request = redact(run.request, personal=personal)
    if run.response is not None:
        run.response = redact(run.response, personal=personal)
    run.events = redact(run.events, personal=personal)
    run.error = mask_text(run.error, personal=personal)
    return run


def store_run(run: TestRun) -> TestRun:
    """Mask and insert a built run (sync: masking is CPU work, encryption needs the key table)."""
    mask_run(run).save(force_insert=True)
    return run


def store_scenario_run(run: ScenarioRun, **save_kwargs: Any) -> ScenarioRun:
    """Mask the variables and report of a scenario run, then save it."""
    personal = masks_personal_data(run.organization)
    run.variables = redact(run.variables, personal=personal)
    run.report = redact(run.report, personal=personal)
    run.save(**save_kwargs)
    return run


def record_run(ctx: OrgContext, result: RunResult, *, user: AbstractBaseUser | None, source: str) -> TestRun:
    return store_run(build_run(ctx, result, user=user, source=source))


async def arecord_run(
    ctx: OrgContext, result: RunResult, *, user: AbstractBaseUser | None, source: str
) -> TestRun:
    run = build_run(ctx, result, user=user, source=source)
    return await sync_to_async(store_run)(run)


def check_allowed(ctx: OrgContext, operation: str, params: dict[str, Any]) -> None:
    """PermissionDenied (403) unless the actor may run ``operation`` with ``params``."""
    require(ctx, OPERATIONS[operation].capability_of(params))


async def arun_and_record(
    ctx: OrgContext,
    operation: str,
    params: dict[str, Any],
    *,
    user: AbstractBaseUser | None,
    source: str,
    protocol: str | None = None,
    on_event: EventSink | None = None,
    server: Any = None,
) -> tuple[TestRun, RunResult]:
    """Run a validated, authorised operation and store it; returns the stored run and the result.

    ``server`` is the MCP server to talk to: the gateway's (None, always in production).
    """
    result = await run_operation(ctx, operation, params, protocol=protocol, on_event=on_event, server=server)
    run = await arecord_run(ctx, result, user=user, source=source)
    return run, result


def run_and_record(
    ctx: OrgContext,
    operation: str,
    params: dict[str, Any],
    *,
    user: AbstractBaseUser | None,
    source: str,
    protocol: str | None = None,
) -> tuple[TestRun, RunResult]:
    """``arun_and_record`` for sync code (views)."""
    return async_to_sync(arun_and_record)(ctx, operation, params, user=user, source=source, protocol=protocol)


# --------------------------------------------------------------------------- history
def runs_for(ctx: OrgContext) -> QuerySet[TestRun]:
    return TestRun.objects.for_org(ctx)


@dataclass
class RunFilters:
    operation: str = ""
    outcome: str = ""
    source: str = ""
    username: str = ""
    target: str = ""
    since: datetime | None = None
    until: datetime | None = None


def filter_runs(ctx: OrgContext, filters: RunFilters) -> QuerySet[TestRun]:
    """The organization's runs matching ``filters``, newest first."""
    runs = runs_for(ctx)
    if filters.operation:
        runs = runs.filter(operation=filters.operation)
    if filters.outcome:
        runs = runs.filter(outcome=filters.outcome)
    if filters.source:
        runs = runs.filter(source=filters.source)
    if filters.username:
        runs = runs.filter(username=filters.username)
    if filters.target:
        runs = runs.filter(target__icontains=filters.target)
    if filters.since is not None:
        runs = runs.filter(created_at__gte=filters.since)
    if filters.until is not None:
        runs = runs.filter(created_at__lt=filters.until)
    return runs.order_by("-created_at", "-id")


def usernames(ctx: OrgContext) -> list[str]:
    """Who ran something in the organization (for the history filter)."""
    return list(runs_for(ctx).order_by("username").values_list("username", flat=True).distinct()[:200])


def get_run(ctx: OrgContext, public_id: Any) -> TestRun:
    """The organization's run ``public_id``; Http404 for another organization's or a missing run."""
    run = runs_for(ctx).filter(public_id=public_id).first()
    if run is None:
        raise Http404("No such test run.")
    return run


def replay_input(run: TestRun) -> tuple[str, dict[str, Any], str | None]:
    """The operation, validated parameters and protocol that re-run ``run``."""
    request = run.request or {}
    if run.operation == RAW:
        raw = {"method": request.get("method", ""), "params": request.get("params")}
    else:
        raw = dict(request.get("params") or {})
    params = clean_params(run.operation, raw)
    protocol = request.get("protocol")
    return run.operation, params, "legacy" if protocol and protocol != "2026-07-28" else None


def rerun(ctx: OrgContext, run: TestRun, *, user: AbstractBaseUser | None) -> TestRun:
    """Run ``run``'s request again (same operation, parameters and protocol era) as a new run.

    Draws one unit from the MCP rate-limit buckets; ``McpRateLimited`` when one is empty."""
    operation, params, protocol = replay_input(run)
    check_allowed(ctx, operation, params)
    refusal = charge_mcp(ctx, 1, door="rerun")
    if refusal is not None:
        raise McpRateLimited(refusal)
    new_run, _ = run_and_record(
        ctx, operation, params, user=user, source=TestRun.Source.PLAYGROUND, protocol=protocol
    )
    return new_run


# --------------------------------------------------------------------------- diff
def comparable(run: TestRun) -> str:
    """What two runs are compared on, as pretty JSON lines."""
    document = {
        "operation": run.operation,
        "target": run.target,
        "request": run.request,
        "outcome": run.outcome,
        "response": run.response,
        "error": run.error or None,
        "validation": run.validation,
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)


@dataclass
class DiffRow:
    kind: str  # equal | changed | removed | added
    left_no: int | None
    left: str
    right_no: int | None
    right: str


def diff_runs(left: TestRun, right: TestRun) -> list[DiffRow]:
    """A side-by-side line diff of two runs (difflib on their pretty JSON)."""
    a = comparable(left).splitlines()
    b = comparable(right).splitlines()
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows.extend(
                DiffRow("equal", i + 1, a[i], j + 1, b[j])
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            )
            continue
        left_lines = list(range(i1, i2))
        right_lines = list(range(j1, j2))
        for k in range(max(len(left_lines), len(right_lines))):
            i = left_lines[k] if k < len(left_lines) else None
            j = right_lines[k] if k < len(right_lines) else None
            kind = "changed" if i is not None and j is not None else ("removed" if j is None else "added")
            rows.append(
                DiffRow(
                    kind,
                    i + 1 if i is not None else None,
                    a[i] if i is not None else "",
                    j + 1 if j is not None else None,
                    b[j] if j is not None else "",
                )
            )
    return rows


# --------------------------------------------------------------------------- batches (the API)
async def arun_batch(
    ctx: OrgContext, items: list[dict[str, Any]], *, user: AbstractBaseUser | None, source: str
) -> list[tuple[TestRun, RunResult]]:
    """Run validated, authorised items ``{operation, params, protocol?}`` one after another.

    The caller charges the rate-limit buckets first (``charge_mcp(ctx, len(items), ...)``)."""
    done = []
    for item in items:
        done.append(
            await arun_and_record(
                ctx,
                item["operation"],
                item["params"],
                user=user,
                source=source,
                protocol=item.get("protocol"),
            )
        )
    return done


def run_batch(
    ctx: OrgContext, items: list[dict[str, Any]], *, user: AbstractBaseUser | None, source: str
) -> list[tuple[TestRun, RunResult]]:
    return async_to_sync(arun_batch)(ctx, items, user=user, source=source)
