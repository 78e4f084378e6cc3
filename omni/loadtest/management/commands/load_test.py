"""``python manage.py load_test PROFILE --org SLUG [options]``: run a load test from a terminal or
a CI job, wait for it and print its report (docs/loadtesting.md, "Running a load test").

PROFILE is a shipped profile's name (``smoke``, ``baseline``…), the name of one of the
organization's profiles, or the path of a YAML file. The run executes where runs always do: on
Celery workers with ``REDIS_URL``, in a thread of this process without it.

Exit status: 0 the run completed and passed; 1 a threshold failed, the run failed, was cancelled or
timed out, or (with ``--fail-on-regression``) it regressed against the baseline; 2 the profile,
organization, target, baseline or a bound is not allowed (nothing ran).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from omni.loadtest.execution import join_shard_threads, request_cancel, start_run, wait_for_run
from omni.loadtest.models import LoadRun

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
PERCENTILES = ("p50", "p90", "p95", "p99", "p99_9", "max")


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):.2f}"


def _strip(value: Any) -> Any:
    """The report without the encoded histograms and raw samples (for reading, not re-analysis)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in {"hist", "samples"}}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def run_summary(run: LoadRun) -> dict[str, Any]:
    return {
        "run": str(run.uuid),
        "organization": run.organization.slug,
        "profile": run.profile_name,
        "target": run.target,
        "status": run.status,
        "verdict": run.verdict,
        "error": run.error,
        "comparison": _strip(run.comparison or {}),
        "report": _strip(run.report or {}),
    }


def text_report(run: LoadRun) -> str:
    """A readable report: totals, latency per operation and organization, errors, analysis."""
    report = run.report or {}
    lines = [
        f"load test {run.profile_name} on {run.organization.slug} -> {run.target}  (run {run.uuid})",
        f"status {run.status}"
        + (f", verdict {run.verdict}" if run.verdict else "")
        + (f": {run.error}" if run.error else ""),
        f"requests {report.get('requests', 0)} in {report.get('duration_s', 0)} s: "
        f"{report.get('throughput', 0)} req/s, errors {report.get('errors', 0)} "
        f"({100 * float(report.get('error_rate') or 0):.3f} %)",
        "",
        f"{'':24} {'count':>8} {'req/s':>9} {'err':>6} "
        + " ".join(f"{p:>8}" for p in PERCENTILES)
        + "  (ms)",
    ]

    def row(name: str, entry: dict[str, Any]) -> str:
        latency = entry.get("latency_ms") or {}
        return (
            f"{name[:24]:24} {entry.get('count', 0):>8} {entry.get('throughput', 0):>9} "
            f"{entry.get('errors', 0):>6} " + " ".join(f"{_ms(latency.get(p)):>8}" for p in PERCENTILES)
        )

    lines.append(row("all", {**report, "count": report.get("requests", 0)}))
    for label, entry in (report.get("operations") or {}).items():
        lines.append(row(f"  {label}", entry))
    if len(report.get("orgs") or {}) > 1 or report.get("fairness"):
        for slug, entry in (report.get("orgs") or {}).items():
            lines.append(row(f"  org {slug}", entry))
    if report.get("errors_by_kind"):
        lines += ["", "errors: " + ", ".join(f"{k} {v}" for k, v in report["errors_by_kind"].items())]
    direct = report.get("direct")
    if direct:
        lines += [
            "",
            "direct (the server alone):",
            row("all", {**direct, "count": direct.get("requests", 0)}),
        ]
    for key in ("overhead", "fairness", "knee"):
        if report.get(key):
            lines.append(f"{key}: {json.dumps(_strip(report[key]), sort_keys=True, default=str)}")
    for item in report.get("thresholds") or []:
        value, unit = item.get("value"), item.get("unit") or ""
        if unit == "ratio" and isinstance(value, int | float):
            shown = f"{value * 100:.3f} %"
        else:
            shown = f"{value:.3f} {unit}".strip() if isinstance(value, int | float) else str(value)
        verdict = "passed" if item.get("passed") else "FAILED"
        lines.append(f"threshold {item.get('threshold')}: {verdict} (measured {shown})")
    comparison = run.comparison or {}
    if comparison.get("verdict") or comparison.get("error"):
        outcome = comparison.get("verdict") or comparison.get("error")
        lines.append(f"against baseline {comparison.get('baseline')}: {outcome}")
        for label, op in (comparison.get("operations") or {}).items():
            if isinstance(op, dict):
                detail = {k: v for k, v in op.items() if not isinstance(v, dict | list)}
                lines.append(f"  {label}: {json.dumps(detail, sort_keys=True, default=str)}")
    for item in report.get("analysis_errors") or []:
        lines.append(f"analysis error: {item}")
    return "\n".join(lines)


def default_timeout(run: LoadRun) -> float:
    """Every phase's warm-up and duration, plus the shard grace and start-up time."""
    spec = run.spec or {}
    window = float(spec.get("warmup_s") or 0) + float(spec.get("duration_s") or 0)
    phases = max(1, run.shards.values("phase").distinct().count())
    return phases * window + settings.LOADTEST_SHARD_GRACE_S + 30


class Command(BaseCommand):
    help = "Run a load profile against an organization's endpoint, wait, print the report (exit 0/1/2)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "profile", help="a shipped profile's name, an organization profile's name, or a YAML file"
        )
        parser.add_argument("--org", required=True, metavar="SLUG", help="the organization")
        parser.add_argument("--target", help='"gateway" or "server:<name>" (default: the profile\'s)')
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.add_argument(
            "--save-baseline", metavar="NAME", help="save the run as this baseline when it passed"
        )
        parser.add_argument("--compare", metavar="NAME", help="compare with this baseline")
        parser.add_argument(
            "--fail-on-regression", action="store_true", help="exit 1 when the comparison finds a regression"
        )
        parser.add_argument(
            "--url", metavar="BASE", help="the gateway's base URL (default LOADTEST_GATEWAY_URL)"
        )
        parser.add_argument("--shards", type=int, metavar="N", help="split the load into N shards")
        parser.add_argument(
            "--raise-limits",
            action="store_true",
            help="lift the organization's bounds for this run (operators)",
        )
        parser.add_argument("--timeout", type=float, metavar="S", help="give up (and cancel) after S seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        from omni.tenants.models import Organization

        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"no organization {options['org']!r}", returncode=EXIT_INVALID)
        run = self._create(organization, options)
        if options["compare"]:
            run.comparison = {"baseline": options["compare"]}
            run.save(update_fields=["comparison"])
        start_run(run)
        timeout = options["timeout"] or default_timeout(run)
        try:
            run = wait_for_run(run, timeout)
        except KeyboardInterrupt:
            request_cancel(run)
            run = wait_for_run(run, 15)
        if not run.finished:
            request_cancel(run)
            run = wait_for_run(run, 15)
        join_shard_threads(30)  # embedded: the thread that finished the run has its last steps
        if not run.finished:
            raise CommandError(
                f"run {run.uuid} did not finish within {timeout:.0f} s (cancel requested)",
                returncode=EXIT_FAILED,
            )
        self.stdout.write(json.dumps(run_summary(run), indent=2) if options["json"] else text_report(run))
        self._finish(run, options)

    def _create(self, organization: Any, options: dict[str, Any]) -> LoadRun:
        from omni.loadtest.profiles import ProfileError
        from omni.loadtest.services import RunRefused, create_run

        profile = options["profile"]
        path = Path(profile)
        if profile.endswith((".yaml", ".yml")) or path.is_file():
            try:
                profile = path.read_text()
            except OSError as exc:
                raise CommandError(f"cannot read {path}: {exc}", returncode=EXIT_INVALID) from None
        if options["compare"]:
            from omni.loadtest.analysis import baseline_for

            if baseline_for(organization, options["compare"]) is None:
                raise CommandError(
                    f"no baseline {options['compare']!r} in {organization.slug}", returncode=EXIT_INVALID
                )
        kwargs: dict[str, Any] = {
            "target": options["target"],
            "trigger": "command",
            "base_url": options["url"],
        }
        if options["raise_limits"]:
            kwargs["raise_limits"] = True
        if options["shards"]:
            kwargs["shards"] = options["shards"]
        try:
            return create_run(organization, profile, **kwargs)
        except ProfileError as exc:
            messages = getattr(exc, "messages", None) or [str(exc)]
            raise CommandError(
                "invalid profile:\n  " + "\n  ".join(map(str, messages)), returncode=EXIT_INVALID
            ) from None
        except RunRefused as exc:
            raise CommandError(f"refused: {exc}", returncode=EXIT_INVALID) from None

    def _finish(self, run: LoadRun, options: dict[str, Any]) -> None:
        if run.status != LoadRun.Status.COMPLETED:
            raise CommandError(f"the run {run.status}: {run.error or 'no report'}", returncode=EXIT_FAILED)
        report = run.report or {}
        if report.get("analysis_errors"):
            raise CommandError("the analysis failed: no verdict", returncode=EXIT_FAILED)
        thresholds_failed = run.verdict == LoadRun.Verdict.FAILED_THRESHOLDS or any(
            isinstance(row, dict) and row.get("passed") is False for row in report.get("thresholds") or []
        )
        regressed = run.verdict == LoadRun.Verdict.REGRESSED
        if options["save_baseline"]:
            if thresholds_failed or regressed:
                self.stderr.write(f"not saved as baseline {options['save_baseline']!r}: the run did not pass")
            else:
                from omni.loadtest.analysis import save_baseline

                save_baseline(run, options["save_baseline"])
                self.stderr.write(f"saved as baseline {options['save_baseline']!r}")
        if thresholds_failed:
            raise CommandError("thresholds failed", returncode=EXIT_FAILED)
        if regressed:
            if options["fail_on_regression"]:
                raise CommandError("regression against the baseline", returncode=EXIT_FAILED)
            self.stderr.write("regression against the baseline (exit 0 without --fail-on-regression)")
