"""Scenario operations of a load profile: a shipped or uploaded scenario, or inline steps.

A load run sends a scenario's steps one after the other as one operation (``Operation.steps``:
``[{name, operation, params, save}]``). The scenario's declared variables are filled in with their
defaults here; ``{{ steps.… }}`` references stay for the generator to resolve while it runs.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
import re2

from omni.playground.scenario_spec import Scenario

_WHOLE = re2.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}$")  # RE2: profile text is tenant input
_INNER = re2.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")


def fill_variables(value: Any, variables: dict[str, Any]) -> Any:
    """``value`` with every ``{{ name }}`` of a declared variable replaced by its value (a string
    that is exactly one reference takes the variable's value with its type). References to other
    names are left as they are. No pattern is built from the scenario's names."""
    if not variables:
        return value
    if isinstance(value, str):
        match = _WHOLE.match(value)
        if match and match.group(1) in variables:
            return variables[match.group(1)]
        return _INNER.sub(
            lambda m: str(variables[m.group(1)]) if m.group(1) in variables else m.group(0), value
        )
    if isinstance(value, dict):
        return {key: fill_variables(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [fill_variables(item, variables) for item in value]
    return value


def scenario_steps(scenario: Scenario) -> list[dict[str, Any]]:
    """The steps of a parsed scenario as a load operation sends them."""
    return [
        {
            "name": step.name,
            "operation": step.operation,
            "params": fill_variables(step.params, scenario.variables),
            "save": dict(step.save),
        }
        for step in scenario.steps
    ]


@functools.cache
def _step_params_validator() -> jsonschema.Draft202012Validator:
    """The scenario format's rules for each operation's params (omni/playground/scenario_schema)."""
    from omni.playground.scenario_schema import SCENARIO_SCHEMA

    rules = SCENARIO_SCHEMA["properties"]["steps"]["items"]["allOf"]
    return jsonschema.Draft202012Validator({"allOf": rules})


def step_param_errors(step: dict[str, Any]) -> list[jsonschema.ValidationError]:
    """What is wrong with an inline step's params for its operation (as in a scenario file)."""
    return sorted(_step_params_validator().iter_errors(step), key=lambda e: [str(p) for p in e.absolute_path])


def inline_steps(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Inline steps of a profile, with default names (``step1``, ``step2``…)."""
    return [
        {
            "name": step.get("name") or f"step{index + 1}",
            "operation": step["operation"],
            "params": step.get("params") or {},
            "save": step.get("save") or {},
        }
        for index, step in enumerate(raw)
    ]


def shipped_scenario(name: str) -> Scenario | None:
    """The shipped scenario ``name`` (``scenarios/<name>.yaml``), or None when there is none."""
    from omni.playground.scenario_library import load_shipped, shipped_files

    if name not in shipped_files():
        return None
    return load_shipped(name)


def uploaded_scenario(org: Any, name: str) -> Scenario | None:
    """The scenario ``name`` that ``org`` uploaded, or None."""
    from omni.playground.models import UploadedScenario
    from omni.playground.scenario_spec import load_scenario

    uploaded = UploadedScenario.objects.for_org(org).filter(name=name).first()
    if uploaded is None:
        return None
    return load_scenario(uploaded.text, source=uploaded.name)


def step_scopes(steps: list[dict[str, Any]]) -> set[str]:
    """The API-key scopes that sending ``steps`` needs."""
    scopes: set[str] = set()
    for step in steps:
        scopes |= scopes_for_kind(step["operation"])
    return scopes


def scopes_for_kind(kind: str) -> set[str]:
    """The API-key scope an MCP operation needs at the gateway (tools/list needs none of its own,
    but a key must carry one: it gets ``tools:call``, the scope its tools belong to)."""
    if kind.startswith("tools/"):
        return {"tools:call"}
    if kind.startswith("prompts/"):
        return {"prompts:read"}
    if kind.startswith("resources/"):
        return {"resources:read"}
    return set()
