"""The weighted mix of a shard, compiled once before the load starts: each operation's JSON-RPC
method and a renderer of its params (templates), scenarios as a list of compiled steps.
``validate_templates(spec)`` raises ``TemplateError`` for any template that does not compile
(the profiles part calls it when a profile is saved)."""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass, field
from typing import Any

from omni.loadtest.generator.templates import Renderer, TemplateError, compile_value, is_dynamic
from omni.playground.scenario_paths import PathError, parse_jsonpath

KINDS = ("tools/call", "tools/list", "prompts/get", "prompts/list", "resources/read", "resources/list")


@dataclass
class Step:
    label: str
    method: str
    render: Renderer
    dynamic: bool
    save: list[tuple[str, Any]] = field(default_factory=list)  # (variable, parsed JSONPath)


@dataclass
class CompiledOp:
    label: str
    kind: str
    weight: float
    method: str = ""
    render: Renderer | None = None
    dynamic: bool = False
    steps: list[Step] = field(default_factory=list)

    @property
    def is_scenario(self) -> bool:
        return self.kind == "scenario"

    @property
    def has_templates(self) -> bool:
        return self.dynamic or any(s.dynamic for s in self.steps)


def _raw_params(kind: str, op: dict[str, Any], where: str) -> dict[str, Any]:
    if kind in ("tools/call", "prompts/get"):
        if not isinstance(op.get("name"), str) or not op["name"]:
            raise TemplateError(f"{kind} needs a name", where)
        params: dict[str, Any] = {"name": op["name"]}
        arguments = op.get("arguments")
        if arguments is not None and not isinstance(arguments, dict):
            raise TemplateError("arguments must be a mapping", f"{where}.arguments")
        if kind == "tools/call" or arguments:
            params["arguments"] = arguments or {}
        return params
    if kind == "resources/read":
        if not isinstance(op.get("uri"), str) or not op["uri"]:
            raise TemplateError("resources/read needs a uri", where)
        return {"uri": op["uri"]}
    return {}


def _stringify_prompt_arguments(render: Renderer) -> Renderer:
    def rendered(c: Any) -> dict[str, Any]:
        params = render(c)
        if isinstance(params.get("arguments"), dict):
            params = {**params, "arguments": {k: str(v) for k, v in params["arguments"].items()}}
        return params

    return rendered


def compile_operation(op: dict[str, Any], index: int) -> CompiledOp:
    label = op.get("label") or f"op{index}"
    where = f"operations[{index}]"
    kind = op.get("kind")
    weight = float(op.get("weight", 1.0))
    if weight < 0:
        raise TemplateError("weight must not be negative", f"{where}.weight")
    if kind == "scenario":
        steps_in = op.get("steps")
        if not isinstance(steps_in, list) or not steps_in:
            raise TemplateError("a scenario needs steps", f"{where}.steps")
        steps: list[Step] = []
        saved: list[str] = []
        for i, step in enumerate(steps_in):
            swhere = f"{where}.steps[{i}]"
            if not isinstance(step, dict):
                raise TemplateError("a step is a mapping", swhere)
            method = step.get("operation")
            if method not in KINDS:
                raise TemplateError(f"unknown step operation {method!r} (one of {', '.join(KINDS)})", swhere)
            params = step.get("params") or {}
            if not isinstance(params, dict):
                raise TemplateError("params must be a mapping", f"{swhere}.params")
            render = compile_value(params, f"{swhere}.params", saved)
            if method == "prompts/get":
                render = _stringify_prompt_arguments(render)
            save_list = []
            for var, path in (step.get("save") or {}).items():
                try:
                    save_list.append((str(var), parse_jsonpath(path)))
                except PathError as exc:
                    raise TemplateError(f"bad JSONPath {path!r}: {exc}", f"{swhere}.save.{var}") from exc
            saved.extend(v for v, _ in save_list)
            name = step.get("name")
            steps.append(
                Step(
                    label=f"{label}/{name if name else i}",
                    method=method,
                    render=render,
                    dynamic=is_dynamic(params),
                    save=save_list,
                )
            )
        return CompiledOp(label=label, kind="scenario", weight=weight, steps=steps)
    if kind not in KINDS:
        raise TemplateError(f"unknown operation kind {kind!r}", f"{where}.kind")
    raw = _raw_params(kind, op, where)
    render = compile_value(raw, where)
    if kind == "prompts/get":
        render = _stringify_prompt_arguments(render)
    return CompiledOp(
        label=label, kind=kind, weight=weight, method=kind, render=render, dynamic=is_dynamic(raw)
    )


def compile_operations(operations: list[dict[str, Any]]) -> list[CompiledOp]:
    if not operations:
        raise TemplateError("a load needs at least one operation", "operations")
    compiled = [compile_operation(op, i) for i, op in enumerate(operations)]
    labels = [op.label for op in compiled]
    if len(set(labels)) != len(labels):
        raise TemplateError("operation labels must be unique", "operations")
    if sum(op.weight for op in compiled) <= 0:
        raise TemplateError("the weights add up to zero", "operations")
    return compiled


def validate_templates(spec: dict[str, Any]) -> None:
    """Raise ``TemplateError`` (with the path in the spec) when any operation's templates, kinds,
    scenario steps or saves do not compile. Nothing is sent."""
    compile_operations(spec.get("operations") or [])


class Mix:
    """Weighted choice of an operation with a given random generator."""

    def __init__(self, ops: list[CompiledOp]) -> None:
        self.ops = [op for op in ops if op.weight > 0]
        self.cumulative = list(itertools.accumulate(op.weight for op in self.ops))
        self.total = self.cumulative[-1]

    def choose(self, rng: random.Random) -> CompiledOp:
        if len(self.ops) == 1:
            return self.ops[0]
        return self.ops[bisect.bisect_right(self.cumulative, rng.random() * self.total)]
