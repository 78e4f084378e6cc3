"""The scenario engine: run a validated scenario's steps through the playground runner, in order.

Each step's parameters get their ``{{ … }}`` references filled in (``scenario_paths``), are checked
like a playground request (``operations.clean_params``), run through ``runner.run_operation`` — the
gateway's own server under the organization's context, so a step sees what the organization's
clients see — and are stored as a ``TestRun`` (source "scenario") linked to one ``ScenarioRun``.
Then the step's ``expect`` block is checked (``scenario_expect``) and its ``save`` paths become
variables for the steps after it. A failed step stops the run unless ``stop_on_failure`` is off.

Each step that runs draws one unit from the same per-user and per-organization rate-limit buckets
as ``/mcp`` (``omni.security.buckets.acharge_mcp``). A refused step fails with the rate-limit
error (nothing ran, no test run stored) and the run stops there whatever ``stop_on_failure`` says:
the steps after it are skipped. ``manage.py run_scenario`` (operators, on the server) passes
``rate_limit=False`` and is not limited.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from rest_framework.exceptions import ValidationError as DRFValidationError

from omni.playground.models import ScenarioRun, TestRun
from omni.playground.operations import OPERATIONS, clean_params
from omni.playground.runner import RunResult, run_operation
from omni.playground.scenario_expect import Check, evaluate
from omni.playground.scenario_paths import PathError, SubstitutionError, find, parse_jsonpath, substitute
from omni.playground.scenario_spec import Scenario, ScenarioError, Step, coerce_variable
from omni.playground.services import build_run, store_run, store_scenario_run
from omni.security.buckets import McpRefusal, acharge_mcp
from omni.tenants.context import OrgContext
from omni.tenants.permissions import API_KEY_SCOPES, require, role_scopes

logger = logging.getLogger(__name__)

Runner = Callable[[OrgContext, str, dict[str, Any]], Awaitable[RunResult]]
StepListener = Callable[["StepReport"], Awaitable[None]]

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass
class StepReport:
    name: str
    operation: str
    status: str  # passed | failed | skipped
    outcome: str = ""  # the operation's outcome: ok | error | invalid ("" when it did not run)
    params: dict[str, Any] | None = None
    checks: list[Check] = field(default_factory=list)
    message: str = ""  # why a step failed before its checks (bad reference, refused parameters)
    duration_ms: float = 0.0
    test_run_id: str | None = None
    saved: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_checks(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]


@dataclass
class ScenarioReport:
    run_id: str
    name: str
    organization: str
    status: str  # passed | failed | error
    variables: dict[str, Any]
    steps: list[StepReport]
    duration_ms: float = 0.0
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.status == ScenarioRun.Status.PASSED

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_text(self) -> str:
        """The readable report ``run_scenario`` prints."""
        mark = {PASSED: "PASS", FAILED: "FAIL", SKIPPED: "SKIP"}
        lines = [f"scenario {self.name} for {self.organization} (run {self.run_id})"]
        for number, step in enumerate(self.steps, 1):
            took = f" {step.duration_ms:.0f} ms" if step.outcome else ""
            outcome = f" [{step.outcome}]" if step.outcome else ""
            lines.append(f"  {mark[step.status]}  {number}. {step.name} ({step.operation}){outcome}{took}")
            if step.message:
                lines.append(f"        {step.message}")
            for check in step.failed_checks:
                target = f" {check.target}" if check.target else ""
                lines.append(f"        ✗ {check.kind}{target}: {check.message}")
        counts = {s: sum(1 for step in self.steps if step.status == s) for s in (PASSED, FAILED, SKIPPED)}
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        lines.append(f"{self.status.upper()}: {summary or 'no steps'} in {self.duration_ms:.0f} ms")
        if self.message:
            lines.append(self.message)
        return "\n".join(lines)


def operator_context(org: Any) -> OrgContext:
    """The context of an operator running a scenario from the command line (no user given)."""
    return OrgContext(
        organization=org,
        principal="cli:run_scenario",
        role="owner",
        scopes=role_scopes("owner") & frozenset(API_KEY_SCOPES),
    )


def check_scenario_allowed(ctx: OrgContext, scenario: Scenario) -> None:
    """PermissionDenied (403) unless the actor may run every operation of ``scenario``."""
    for capability in sorted({OPERATIONS[step.operation].capability for step in scenario.steps}):
        require(ctx, capability)


def resolve_variables(scenario: Scenario, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The defaults with ``overrides`` applied; text overrides take the default's type.

    ``ScenarioError`` for a variable the scenario does not declare or a value of the wrong type.
    """
    values = dict(scenario.variables)
    errors = []
    for name, raw in (overrides or {}).items():
        if name not in values:
            known = ", ".join(sorted(values)) or "none"
            errors.append(f"unknown variable {name!r} (this scenario has: {known})")
            continue
        if isinstance(raw, str) and not isinstance(values[name], str):
            try:
                raw = coerce_variable(values[name], raw)
            except ValueError as exc:
                errors.append(f"variable {name!r}: {exc}")
                continue
        if isinstance(raw, dict | list):
            errors.append(f"variable {name!r}: use a text, number, boolean or null value")
            continue
        values[name] = raw
    if errors:
        raise ScenarioError(errors, scenario.source)
    return values


class _Engine:
    def __init__(
        self,
        ctx: OrgContext,
        scenario: Scenario,
        variables: dict[str, Any],
        run: ScenarioRun,
        *,
        user: AbstractBaseUser | None,
        runner: Runner,
        on_step: StepListener | None,
        rate_limit: bool = True,
    ) -> None:
        self.ctx, self.scenario, self.run = ctx, scenario, run
        self.user, self.runner, self.on_step = user, runner, on_step
        self.rate_limit = rate_limit
        self.refusal: McpRefusal | None = None  # set when a step was refused by a rate limit
        self.values: dict[str, Any] = dict(variables)
        self.steps: dict[str, Any] = {}

    def context(self) -> dict[str, Any]:
        org = self.ctx.organization
        return {
            **self.values,
            "steps": self.steps,
            "org": {"slug": org.slug, "name": org.name},
            "run": {"id": self.run.public_id.hex[:12]},
        }

    async def step(self, step: Step) -> StepReport:
        report = StepReport(name=step.name, operation=step.operation, status=FAILED)
        try:
            params = substitute(step.params, self.context())
        except (SubstitutionError, PathError) as exc:
            report.message = f"parameters: {exc}"
            return report
        report.params = params
        try:
            cleaned = clean_params(step.operation, params)
        except DRFValidationError as exc:
            report.message = f"parameters refused: {exc.detail}"
            return report
        if self.rate_limit:
            self.refusal = await acharge_mcp(self.ctx, 1, door="scenario")
            if self.refusal is not None:
                report.message = f"rate limited: {self.refusal.message}"
                return report
        result = await self.runner(self.ctx, step.operation, cleaned)
        test_run = build_run(self.ctx, result, user=self.user, source=TestRun.Source.SCENARIO)
        test_run.scenario_run = self.run
        await sync_to_async(store_run)(test_run)
        report.test_run_id = str(test_run.public_id)
        report.outcome, report.duration_ms = result.outcome, result.duration_ms
        document = result.response if result.response is not None else {"error": result.error}
        self.steps[step.name] = {"result": document, "status": result.outcome, "error": result.error}
        try:
            expect = substitute(step.expect, self.context())
        except (SubstitutionError, PathError) as exc:
            report.message = f"expect: {exc}"
            return report
        report.checks = evaluate(expect, result.outcome, document)
        if result.outcome != "ok" and result.error_text:
            report.message = result.error_text[:1000]
        for variable, path in step.save.items():
            found = find(document, parse_jsonpath(path))
            if found:
                self.values[variable] = report.saved[variable] = found[0]
            else:
                report.checks.append(Check("save", path, False, f"nothing at {path} to save as {variable!r}"))
        if not report.failed_checks:
            report.status, report.message = PASSED, ""
        return report


async def arun_scenario(
    ctx: OrgContext,
    scenario: Scenario,
    *,
    variables: Mapping[str, Any] | None = None,
    user: AbstractBaseUser | None = None,
    trigger: str = ScenarioRun.Trigger.CLI,
    origin: str = "",
    stop_on_failure: bool | None = None,
    runner: Runner | None = None,
    on_step: StepListener | None = None,
    rate_limit: bool = True,
) -> ScenarioReport:
    """Run ``scenario`` for ``ctx``; store a ``ScenarioRun`` and one ``TestRun`` per step that ran.

    Raises ``ScenarioError`` for bad variable overrides (before anything is stored) and
    ``PermissionDenied`` when the actor may not run one of the operations. Everything else —
    failed steps, tool errors, an exception inside the engine — ends up in the report.
    ``rate_limit=False`` (operators' command line only) does not charge the rate-limit buckets.
    """
    values = resolve_variables(scenario, variables)
    check_scenario_allowed(ctx, scenario)
    stop = scenario.stop_on_failure if stop_on_failure is None else stop_on_failure
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    run = ScenarioRun(
        organization=ctx.organization,
        user=user if authenticated else None,
        username=user.get_username() if authenticated else ctx.principal,
        trigger=trigger,
        name=scenario.name,
        origin=origin[:300],
        text=scenario.text,
        variables=values,
        stop_on_failure=stop,
        total_steps=len(scenario.steps),
    )
    await sync_to_async(store_scenario_run)(run, force_insert=True)
    engine = _Engine(
        ctx,
        scenario,
        values,
        run,
        user=user,
        runner=runner or run_operation,
        on_step=on_step,
        rate_limit=rate_limit,
    )
    started = time.perf_counter()
    reports: list[StepReport] = []
    message = ""
    status = ScenarioRun.Status.PASSED
    try:
        for step in scenario.steps:
            if engine.refusal is not None or (stop and any(r.status == FAILED for r in reports)):
                reports.append(StepReport(name=step.name, operation=step.operation, status=SKIPPED))
                continue
            report = await engine.step(step)
            reports.append(report)
            if on_step is not None:
                await on_step(report)
        if any(r.status == FAILED for r in reports):
            status = ScenarioRun.Status.FAILED
        if engine.refusal is not None:
            message = f"the run stopped: {engine.refusal.message}"
    except Exception as exc:  # the run is stored as an error, never left "running"
        logger.exception("scenario %s crashed", scenario.name)
        status, message = ScenarioRun.Status.ERROR, f"the scenario stopped: {type(exc).__name__}: {exc}"
    duration = round((time.perf_counter() - started) * 1000, 3)
    report = ScenarioReport(
        run_id=str(run.public_id),
        name=scenario.name,
        organization=ctx.org_slug,
        status=status,
        variables=values,
        steps=reports,
        duration_ms=duration,
        message=message,
    )
    run.status = status
    run.passed_steps = sum(1 for r in reports if r.status == PASSED)
    run.failed_steps = sum(1 for r in reports if r.status == FAILED)
    run.report = report.as_dict()
    run.duration_ms = duration
    run.finished_at = timezone.now()
    await sync_to_async(store_scenario_run)(
        run, update_fields=["status", "passed_steps", "failed_steps", "report", "duration_ms", "finished_at"]
    )
    return report


def run_scenario(ctx: OrgContext, scenario: Scenario, **kwargs: Any) -> ScenarioReport:
    """``arun_scenario`` for sync code (views, management commands)."""
    return async_to_sync(arun_scenario)(ctx, scenario, **kwargs)
