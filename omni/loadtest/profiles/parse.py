"""``parse_profile(text)``: validate a load profile (schema, then meaning) and normalise it.

The normalised profile is what a ``LoadRun.spec`` holds and what ``planning.plan_shards`` reads:
durations in seconds (``warmup_s``, ``duration_s``, ``timeout_s``, ``arrival.think_ms`` in ms),
every operation with its ``label``, ``kind`` and ``weight`` (``contracts.Operation``), thresholds
and SLOs parsed (``values.parse_threshold``), defaults filled in. See docs/loadtesting.md.
"""

from __future__ import annotations

import datetime
from typing import Any

import jsonschema
import re2
from celery.schedules import crontab
from django.conf import settings

from omni.loadtest.profiles.arrival import parse_arrival, peak_rate
from omni.loadtest.profiles.common import duration_at
from omni.loadtest.profiles.operations import parse_operations, profile_scopes
from omni.loadtest.profiles.schema import (
    DEFAULT_REVISION,
    HANDSHAKE_REVISIONS,
    PROFILE_SCHEMA,
    SERVER_NAME_PATTERN,
)
from omni.loadtest.profiles.source import Problems, ProfileError, load_yaml
from omni.loadtest.profiles.values import ValueProblem, parse_threshold

_VALIDATOR = jsonschema.Draft202012Validator(PROFILE_SCHEMA)
DEFAULT_TIMEOUT_S = 10.0
MAX_TIMEOUT_S = 300.0


def _schema_errors(data: Any, problems: Problems) -> None:
    errors = [_specific(error) for error in _VALIDATOR.iter_errors(data)]
    errors.sort(key=lambda e: ([str(p) for p in e.absolute_path], e.message))
    for error in errors[:30]:
        problems.add(list(error.absolute_path), _schema_message(error))


def _specific(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For a mapping that matches no ``anyOf`` branch (an operation, a scenario's steps), the
    error of the branch written for mappings or lists: it names the key that is wrong."""
    while error.validator == "anyOf" and isinstance(error.instance, dict | list) and error.context:
        kind = "object" if isinstance(error.instance, dict) else "array"
        branch = [
            e
            for e in error.context
            if e.relative_schema_path
            and _branch_type(error.validator_value, e.relative_schema_path[0]) == kind
        ]
        if not branch:
            break
        error = jsonschema.exceptions.best_match(branch)
    return error


def _branch_type(branches: Any, index: Any) -> str | None:
    try:
        return branches[index].get("type")
    except (IndexError, KeyError, TypeError, AttributeError):
        return None


def _schema_message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties are not allowed", "unknown key(s)")
    path = list(error.absolute_path)
    if error.validator == "anyOf" and path[-1:] == ["scenario"]:
        return f"{error.instance!r} is not a scenario: give a scenario's name or a list of steps"
    if error.validator == "anyOf" and path[:1] == ["operations"]:
        return (
            f"{error.instance!r} is not an operation: use tools/list, prompts/list, resources/list or a "
            "mapping with one of tool, prompt, resource, scenario (and arguments, weight, label)"
        )
    return error.message


# --------------------------------------------------------------------------- the rest
def target_problem(target: str) -> str | None:
    """Why ``target`` is not a target (``gateway`` or ``server:<server name>``), or None."""
    if target == "gateway":
        return None
    name = target[len("server:") :] if target.startswith("server:") else None
    if name is None or not re2.match(SERVER_NAME_PATTERN, name):
        return f"{target!r} is not a target: use gateway or server:<server name>"
    return None


def _target(data: dict[str, Any], problems: Problems) -> tuple[str, str | None]:
    target = data.get("target", "gateway")
    problem = target_problem(target)
    if problem:
        problems.add(["target"], problem)
    direct = data.get("direct")
    if direct is not None and target != "gateway":
        problems.add(["direct"], "direct (measuring a server alone too) only goes with target: gateway")
    return target, direct


def _mode(data: dict[str, Any], problems: Problems) -> tuple[str, str | None]:
    mode = data.get("mode", "2026-07-28")
    revision = data.get("revision")
    if revision is not None and mode != "handshake":
        problems.add(["revision"], "revision only goes with mode: handshake")
        return mode, None
    if mode == "handshake":
        revision = revision or DEFAULT_REVISION
        if revision not in HANDSHAKE_REVISIONS:
            problems.add(
                ["revision"], f"{revision!r} is not a handshake revision ({', '.join(HANDSHAKE_REVISIONS)})"
            )
    return mode, revision


def _thresholds(data: dict[str, Any], key: str, labels: set[str], problems: Problems) -> list[dict[str, Any]]:
    parsed = []
    for index, text in enumerate(data.get(key) or []):
        try:
            threshold = parse_threshold(text)
        except ValueProblem as exc:
            problems.add([key, index], str(exc))
            continue
        operation = threshold["operation"]
        if operation is not None and operation not in labels:
            problems.add(
                [key, index], f"no operation labelled {operation!r} (labels: {', '.join(sorted(labels))})"
            )
        if key == "slo" and threshold["metric"] in ("regression", "throughput"):
            problems.add([key, index], "an SLO is about error_rate or latency (p50…max)")
        parsed.append(threshold)
    return parsed


def _organizations(data: dict[str, Any], problems: Problems) -> list[dict[str, Any]]:
    result = []
    seen: set[str] = set()
    for index, raw in enumerate(data.get("organizations") or []):
        if raw["org"] in seen:
            problems.add(["organizations", index, "org"], f"{raw['org']!r} is listed twice")
        seen.add(raw["org"])
        result.append({"org": raw["org"], "weight": float(raw.get("weight", 1.0))})
    return result


def _schedule(data: dict[str, Any], problems: Problems) -> str:
    schedule = (data.get("schedule") or "").strip()
    if schedule:
        fields = schedule.split()
        if len(fields) != 5:
            problems.add(
                ["schedule"], f"{schedule!r} is not a 5-field cron expression (minute hour day month weekday)"
            )
        else:
            try:
                crontab(*fields)
            except (ValueError, TypeError) as exc:
                problems.add(["schedule"], f"{schedule!r} is not a valid cron expression: {exc}")
    return schedule


def parse_profile(text: str | bytes, *, org: Any = None) -> dict[str, Any]:
    """The validated, normalised profile of ``text``; ``ProfileError`` lists every problem.

    With ``org`` (an ``Organization``), ``scenario:`` names are resolved among that organization's
    uploaded scenarios too (else only shipped ones; others are left for ``services.create_run``).
    """
    data, root = load_yaml(text)
    problems = Problems(root)
    if isinstance(data, dict):
        for key in ("mode", "revision"):  # an unquoted 2026-07-28 is a date to YAML
            if isinstance(data.get(key), datetime.date):
                data[key] = data[key].isoformat()
    _schema_errors(data, problems)
    problems.raise_if_any()

    duration_s = duration_at(data, "duration", [], problems, 1.0)
    if "duration" in data and duration_s <= 0:
        problems.add(["duration"], "the duration must be more than 0 s")
    timeout_s = duration_at(data, "timeout", [], problems, DEFAULT_TIMEOUT_S)
    if not 0 < timeout_s <= MAX_TIMEOUT_S:
        problems.add(["timeout"], f"the timeout must be more than 0 s and at most {MAX_TIMEOUT_S:g} s")
    mode, revision = _mode(data, problems)
    target, direct = _target(data, problems)
    operations = parse_operations(data, problems, org)
    labels = {op["label"] for op in operations}
    profile: dict[str, Any] = {
        "name": data["name"],
        "title": data.get("title") or data["name"],
        "description": data.get("description", ""),
        "mode": mode,
        "target": target,
        "direct": direct,
        "operations": operations,
        "arrival": parse_arrival(data, duration_s, problems),
        "warmup_s": duration_at(data, "warmup", [], problems, 0.0),
        "duration_s": duration_s,
        "timeout_s": timeout_s,
        "shards": int(data.get("shards", 1)),
        "organizations": _organizations(data, problems),
        "thresholds": _thresholds(data, "thresholds", labels, problems),
        "slo": _thresholds(data, "slo", labels, problems),
        "schedule": _schedule(data, problems),
        "seed": int(data.get("seed", 1)),
        "samples": int(data.get("samples", getattr(settings, "LOADTEST_SAMPLES", 2000))),
    }
    if revision is not None:
        profile["revision"] = revision
    problems.raise_if_any()
    return profile


__all__ = ["ProfileError", "parse_profile", "peak_rate", "profile_scopes", "target_problem"]
