"""``parse_profile(text)``: validate a load profile (schema, then meaning) and normalise it.

The normalised profile is what a ``LoadRun.spec`` holds and what ``planning.plan_shards`` reads:
durations in seconds (``warmup_s``, ``duration_s``, ``timeout_s``, ``arrival.think_ms`` in ms),
every operation with its ``label``, ``kind`` and ``weight`` (``contracts.Operation``), thresholds
and SLOs parsed (``values.parse_threshold``), defaults filled in. See docs/loadtesting.md.
"""

from __future__ import annotations

import datetime
import logging
import re
from typing import Any

import jsonschema
from celery.schedules import crontab
from django.conf import settings

from omni.loadtest.profiles import scenarios as scen
from omni.loadtest.profiles.schema import (
    DEFAULT_REVISION,
    HANDSHAKE_REVISIONS,
    PROFILE_SCHEMA,
    SERVER_NAME_PATTERN,
)
from omni.loadtest.profiles.source import Problems, ProfileError, load_yaml
from omni.loadtest.profiles.values import ValueProblem, parse_duration, parse_threshold

logger = logging.getLogger(__name__)

_VALIDATOR = jsonschema.Draft202012Validator(PROFILE_SCHEMA)
_KIND_KEYS = {
    "tool": "tools/call",
    "prompt": "prompts/get",
    "resource": "resources/read",
    "scenario": "scenario",
}
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_IN_FLIGHT = 1000
MAX_TIMEOUT_S = 300.0
_OPEN_KEYS = ("rate", "shape", "rate_to", "steps", "spike_rate", "spike_at", "spike_for", "max_in_flight")
_CLOSED_KEYS = ("users", "think")
_SHAPE_KEYS = {
    "constant": (),
    "ramp": ("rate_to",),
    "step": ("steps",),
    "spike": ("spike_rate", "spike_at", "spike_for"),
}


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


def _duration(data: dict[str, Any], key: str, path: list[Any], problems: Problems, default: float) -> float:
    if key not in data:
        return default
    try:
        return parse_duration(data[key])
    except ValueProblem as exc:
        problems.add([*path, key], str(exc))
        return default


# --------------------------------------------------------------------------- operations
def _operation(raw: Any, index: int, problems: Problems, org: Any) -> dict[str, Any] | None:
    path: list[Any] = ["operations", index]
    if isinstance(raw, str):
        return {"label": raw, "kind": raw, "weight": 1.0, "_auto": True}
    given = [key for key in (*_KIND_KEYS, "operation") if key in raw]
    if len(given) != 1:
        problems.add(
            path, f"give exactly one of tool, prompt, resource, scenario, operation (found {len(given)})"
        )
        return None
    key = given[0]
    kind = raw["operation"] if key == "operation" else _KIND_KEYS[key]
    op: dict[str, Any] = {"kind": kind, "weight": float(raw.get("weight", 1.0))}
    if "arguments" in raw and kind not in ("tools/call", "prompts/get"):
        problems.add([*path, "arguments"], "arguments only go with tool or prompt")
    if kind == "tools/call":
        op["name"] = raw["tool"]
        op["arguments"] = raw.get("arguments") or {}
        auto = raw["tool"]
    elif kind == "prompts/get":
        op["name"] = raw["prompt"]
        op["arguments"] = raw.get("arguments") or {}
        auto = f"prompt:{raw['prompt']}"
    elif kind == "resources/read":
        op["uri"] = raw["resource"]
        auto = f"resource:{raw['resource']}"
    elif kind == "scenario":
        auto = _scenario(raw["scenario"], op, [*path, "scenario"], problems, org)
    else:
        auto = kind
    op["label"] = raw.get("label") or auto
    op["_auto"] = "label" not in raw
    return op


def _scenario(value: Any, op: dict[str, Any], path: list[Any], problems: Problems, org: Any) -> str:
    from omni.playground.scenario_spec import ScenarioError

    if isinstance(value, list):
        op["steps"] = scen.inline_steps(value)
        return "scenario"
    try:
        scenario = scen.uploaded_scenario(org, value) if org is not None else None
        scenario = scenario or scen.shipped_scenario(value)
    except ScenarioError as exc:
        problems.add(path, f"the scenario {value!r} is not valid: {'; '.join(exc.errors)}")
        return f"scenario:{value}"
    if scenario is not None:
        op["steps"] = scen.scenario_steps(scenario)
    elif org is not None:
        problems.add(
            path, f"no scenario called {value!r} (neither shipped nor uploaded by this organization)"
        )
    else:  # an organization's uploaded scenario: resolved when a run is created
        op["scenario"] = value
    return f"scenario:{value}"


def _operations(data: dict[str, Any], problems: Problems, org: Any) -> list[dict[str, Any]]:
    operations = []
    for index, raw in enumerate(data["operations"]):
        op = _operation(raw, index, problems, org)
        if op is not None:
            operations.append((index, op))
    seen: dict[str, int] = {}
    result = []
    for index, op in operations:
        auto = op.pop("_auto")
        label = op["label"]
        if label in seen:
            if not auto:
                problems.add(
                    ["operations", index, "label"], f"another operation is already labelled {label!r}"
                )
            count = 2
            while f"{label}#{count}" in seen:
                count += 1
            label = op["label"] = f"{label}#{count}"
        seen[label] = index
        result.append(op)
    _check_templates(result, problems)
    return result


def _check_templates(operations: list[dict[str, Any]], problems: Problems) -> None:
    """The generator's own check of argument templates, when the generator is there."""
    try:
        from omni.loadtest.generator import validate_templates  # type: ignore[attr-defined]
    except ImportError:
        return
    for index, op in enumerate(operations):
        for value, key in ((op.get("arguments"), "arguments"), (op.get("uri"), "resource")):
            if value is None:
                continue
            for message in validate_templates(value) or []:
                problems.add(["operations", index, key], str(message))


# --------------------------------------------------------------------------- arrival
def _arrival(data: dict[str, Any], duration_s: float, problems: Problems) -> dict[str, Any]:
    raw = data["arrival"]
    path: list[Any] = ["arrival"]
    model = raw["model"]
    wrong = _OPEN_KEYS if model == "closed" else _CLOSED_KEYS
    for key in wrong:
        if key in raw:
            other = "open" if model == "closed" else "closed"
            problems.add([*path, key], f"{key} only goes with model: {other}")
    if model == "closed":
        if "users" not in raw:
            problems.add(path, "a closed model needs users (how many virtual users)")
        think_s = _duration(raw, "think", path, problems, 0.0)
        return {"model": "closed", "users": int(raw.get("users", 1)), "think_ms": think_s * 1000.0}
    if "rate" not in raw:
        problems.add(path, "an open model needs rate (requests per second)")
    shape = raw.get("shape", "constant")
    arrival: dict[str, Any] = {
        "model": "open",
        "rate": float(raw.get("rate", 1.0)),
        "shape": shape,
        "max_in_flight": int(raw.get("max_in_flight", DEFAULT_MAX_IN_FLIGHT)),
    }
    for other, keys in _SHAPE_KEYS.items():
        for key in keys:
            if key in raw and other != shape:
                problems.add([*path, key], f"{key} only goes with shape: {other}")
    missing = [key for key in _SHAPE_KEYS[shape] if key not in raw]
    if missing:
        problems.add(path, f"shape {shape} needs {', '.join(missing)}")
        return arrival
    if shape == "ramp":
        arrival["rate_to"] = float(raw["rate_to"])
    elif shape == "step":
        arrival["steps"] = _steps(raw["steps"], duration_s, problems)
    elif shape == "spike":
        arrival["spike_rate"] = float(raw["spike_rate"])
        arrival["spike_at_s"] = _duration(raw, "spike_at", path, problems, 0.0)
        arrival["spike_for_s"] = _duration(raw, "spike_for", path, problems, 0.0)
        if arrival["spike_for_s"] <= 0:
            problems.add([*path, "spike_for"], "the spike must last more than 0 s")
        if arrival["spike_at_s"] + arrival["spike_for_s"] > duration_s:
            problems.add([*path, "spike_at"], f"the spike must end within the duration ({duration_s:g} s)")
    return arrival


def _steps(raw: list[dict[str, Any]], duration_s: float, problems: Problems) -> list[list[float]]:
    steps: list[list[float]] = []
    for index, step in enumerate(raw):
        at = _duration(step, "at", ["arrival", "steps", index], problems, 0.0)
        if steps and at <= steps[-1][0]:
            problems.add(["arrival", "steps", index, "at"], "steps must be in increasing order of at")
        if at >= duration_s:
            problems.add(
                ["arrival", "steps", index, "at"], f"the step starts after the duration ({duration_s:g} s)"
            )
        steps.append([at, float(step["rate"])])
    return steps


def peak_rate(arrival: dict[str, Any]) -> float:
    """The highest request rate an open arrival model reaches (0 for a closed one)."""
    if arrival.get("model") != "open":
        return 0.0
    rates = [arrival.get("rate", 0.0), arrival.get("rate_to", 0.0), arrival.get("spike_rate", 0.0)]
    rates += [rate for _, rate in arrival.get("steps", [])]
    return float(max(rates))


# --------------------------------------------------------------------------- the rest
def target_problem(target: str) -> str | None:
    """Why ``target`` is not a target (``gateway`` or ``server:<server name>``), or None."""
    if target == "gateway":
        return None
    name = target[len("server:") :] if target.startswith("server:") else None
    if name is None or not re.match(SERVER_NAME_PATTERN, name):
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

    duration_s = _duration(data, "duration", [], problems, 1.0)
    if "duration" in data and duration_s <= 0:
        problems.add(["duration"], "the duration must be more than 0 s")
    timeout_s = _duration(data, "timeout", [], problems, DEFAULT_TIMEOUT_S)
    if not 0 < timeout_s <= MAX_TIMEOUT_S:
        problems.add(["timeout"], f"the timeout must be more than 0 s and at most {MAX_TIMEOUT_S:g} s")
    mode, revision = _mode(data, problems)
    target, direct = _target(data, problems)
    operations = _operations(data, problems, org)
    labels = {op["label"] for op in operations}
    profile: dict[str, Any] = {
        "name": data["name"],
        "title": data.get("title") or data["name"],
        "description": data.get("description", ""),
        "mode": mode,
        "target": target,
        "direct": direct,
        "operations": operations,
        "arrival": _arrival(data, duration_s, problems),
        "warmup_s": _duration(data, "warmup", [], problems, 0.0),
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


def profile_scopes(profile: dict[str, Any]) -> set[str]:
    """The API-key scopes the operations of a normalised profile need (at least one)."""
    scopes: set[str] = set()
    for op in profile["operations"]:
        if op["kind"] == "scenario":
            scopes |= scen.step_scopes(op.get("steps") or [])
        else:
            scopes |= scen.scopes_for_kind(op["kind"])
    return scopes or {"tools:call"}


__all__ = ["ProfileError", "parse_profile", "peak_rate", "profile_scopes"]
