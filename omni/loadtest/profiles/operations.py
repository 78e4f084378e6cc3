"""The operations of a profile: shorthand strings and mappings (tool, prompt, resource, scenario,
operation), with kinds, labels and weights; the API-key scopes they need."""

from __future__ import annotations

from typing import Any

from omni.loadtest.profiles import scenarios as scen
from omni.loadtest.profiles.source import Problems

_KIND_KEYS = {
    "tool": "tools/call",
    "prompt": "prompts/get",
    "resource": "resources/read",
    "scenario": "scenario",
}


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
        for index, step in enumerate(value):
            for error in scen.step_param_errors(step):
                problems.add([*path, index, *error.absolute_path], error.message)
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


def parse_operations(data: dict[str, Any], problems: Problems, org: Any) -> list[dict[str, Any]]:
    """The normalised operations (``contracts.Operation``) with unique labels; problems recorded."""
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


def profile_scopes(profile: dict[str, Any]) -> set[str]:
    """The API-key scopes the operations of a normalised profile need (at least one)."""
    scopes: set[str] = set()
    for op in profile["operations"]:
        if op["kind"] == "scenario":
            scopes |= scen.step_scopes(op.get("steps") or [])
        else:
            scopes |= scen.scopes_for_kind(op["kind"])
    return scopes or {"tools:call"}
