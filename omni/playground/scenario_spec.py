"""Scenario files: parse YAML safely, validate against a JSON Schema, report errors with lines.

The format is documented in ``docs/scenarios.md``. ``load_scenario(text)`` returns a ``Scenario`` or
raises ``ScenarioError`` whose ``errors`` are readable lines such as
``line 14, steps[1].expect.jsonpath[0]: give exactly one check (exists, equals, …)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

import jsonschema
import yaml

from omni.playground.scenario_paths import PathError, parse_jsonpath, references
from omni.playground.scenario_schema import (
    BUILTIN_NAMES,
    CHECKS,
    MAX_FLOW_DEPTH,
    MAX_SCENARIO_BYTES,
    SCENARIO_SCHEMA,
)
from omni.security import schemas as safe_schemas

_VALIDATOR = jsonschema.Draft202012Validator(SCENARIO_SCHEMA)


class ScenarioError(ValueError):
    """An invalid scenario file; ``errors`` holds one readable line per problem."""

    def __init__(self, errors: list[str], source: str = "scenario") -> None:
        self.errors = errors
        self.source = source
        super().__init__(f"{source} is not a valid scenario:\n" + "\n".join(f"  {e}" for e in errors))


@dataclass(frozen=True)
class Step:
    name: str
    operation: str
    params: dict[str, Any]
    expect: dict[str, Any]
    save: dict[str, str]
    description: str = ""

    @property
    def expected_status(self) -> str:
        return self.expect.get("status", "ok")


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    variables: dict[str, Any]  # name -> default value
    steps: list[Step]
    stop_on_failure: bool = True
    text: str = ""
    source: str = "scenario"
    variable_help: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- YAML with lines
def _yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}YAML syntax error: {problem}" + (f" ({context})" if context else "")


def _check_aliases(text: str) -> list[str]:
    """Anchors and aliases are refused: they are how a small YAML file expands into a huge one."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            return [f"line {event.start_mark.line + 1}: anchors and aliases (&name, *name) are not allowed"]
    return []


def _flow_depth(text: str) -> int:
    """How deeply ``[`` / ``{`` nest outside quotes (PyYAML's parser slows down badly with depth)."""
    depth = deepest = 0
    quote = ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(depth - 1, 0)
    return deepest


def _duplicate_keys(node: yaml.Node | None) -> list[str]:
    """PyYAML keeps the last of two equal keys silently; a scenario file says so instead."""
    errors: list[str] = []
    pending = [node] if node is not None else []
    while pending:
        current = pending.pop()
        if isinstance(current, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        line = key.start_mark.line + 1
                        errors.append(f"line {line}: the key {key.value!r} appears twice in one mapping")
                    seen.add(key.value)
                pending.append(value)
        elif isinstance(current, yaml.SequenceNode):
            pending.extend(current.value)
    return sorted(errors, key=lambda e: int(e.split()[1].rstrip(":")))


def _line_of(root: yaml.Node | None, path: list[Any]) -> int | None:
    node = root
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((value for key, value in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            return None
    return node.start_mark.line + 1 if node is not None else None


def _field(path: list[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


class _Problems:
    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root
        self.errors: list[str] = []

    def add(self, path: list[Any], message: str) -> None:
        line = _line_of(self.root, path)
        where = f"line {line}, " if line else ""
        self.errors.append(f"{where}{_field(path)}: {message}")


def _schema_errors(data: Any, problems: _Problems) -> None:
    errors = sorted(_VALIDATOR.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    for error in errors[:20]:
        problems.add(list(error.absolute_path), error.message)


# --------------------------------------------------------------------------- semantic checks
def _known_names(data: dict[str, Any], step_index: int) -> set[str]:
    names = set(BUILTIN_NAMES) | set(data.get("variables") or {})
    for earlier in data["steps"][:step_index]:
        names |= set(earlier.get("save") or {})
    return names


def _check_references(value: Any, known: set[str], path: list[Any], problems: _Problems) -> None:
    try:
        for ref in references(value):
            if ref.segments[0] not in known:
                problems.add(
                    path, f"{{{{ {ref.text} }}}} uses {ref.segments[0]!r}, which is not a variable yet"
                )
    except PathError as exc:
        problems.add(path, str(exc))


def _check_step(data: dict[str, Any], index: int, seen: set[str], problems: _Problems) -> None:
    step = data["steps"][index]
    base: list[Any] = ["steps", index]
    if step["name"] in seen:
        problems.add([*base, "name"], f"another step is already called {step['name']!r}")
    known = _known_names(data, index)
    _check_references(step.get("params") or {}, known, [*base, "params"], problems)
    expect = step.get("expect") or {}
    for n, check in enumerate(expect.get("jsonpath") or []):
        where = [*base, "expect", "jsonpath", n]
        given = [name for name in CHECKS if name in check]
        if len(given) != 1:
            problems.add(where, f"give exactly one check of {', '.join(CHECKS)} (found {len(given)})")
        if "tolerance" in check and "approx" not in check:
            problems.add(where, "tolerance only goes with approx")
        try:
            parse_jsonpath(check["path"])
        except PathError as exc:
            problems.add([*where, "path"], str(exc))
        if "matches" in check:
            try:
                safe_schemas.compile_pattern(check["matches"])
            except safe_schemas.UnsupportedPattern as exc:
                problems.add([*where, "matches"], f"not a regular expression RE2 accepts: {exc}")
        _check_references(check, known, where, problems)
    if "schema" in expect:
        try:
            safe_schemas.check_schema(expect["schema"])
        except jsonschema.SchemaError as exc:
            problems.add([*base, "expect", "schema"], f"not a valid JSON Schema: {exc.message}")
        except safe_schemas.SchemaProblem as exc:
            problems.add([*base, "expect", "schema"], f"not a usable JSON Schema: {exc}")
    for variable, path in (step.get("save") or {}).items():
        try:
            parse_jsonpath(path)
        except PathError as exc:
            problems.add([*base, "save", variable], str(exc))


# --------------------------------------------------------------------------- loading
def load_scenario(text: str | bytes, source: str = "scenario") -> Scenario:
    """Parse and validate a scenario; ``ScenarioError`` lists every problem found."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ScenarioError(["the file is not UTF-8 text"], source) from None
    if len(text.encode("utf-8")) > MAX_SCENARIO_BYTES:
        raise ScenarioError([f"the file is larger than {MAX_SCENARIO_BYTES // 1024} KiB"], source)
    if _flow_depth(text) > MAX_FLOW_DEPTH:
        raise ScenarioError(
            [f"the file is nested too deeply (more than {MAX_FLOW_DEPTH} levels of [ or {{)"], source
        )
    try:
        structure = _check_aliases(text)
        if structure:
            raise ScenarioError(structure, source)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        structure = _duplicate_keys(root)
        if structure:
            raise ScenarioError(structure, source)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError([_yaml_error(exc)], source) from None
    except RecursionError:
        raise ScenarioError(["the file is nested too deeply"], source) from None
    if data is None:
        raise ScenarioError(["the file is empty"], source)
    problems = _Problems(root)
    _schema_errors(data, problems)
    if problems.errors:
        raise ScenarioError(problems.errors, source)
    seen: set[str] = set()
    for index in range(len(data["steps"])):
        _check_step(data, index, seen, problems)
        seen.add(data["steps"][index]["name"])
    if problems.errors:
        raise ScenarioError(problems.errors, source)
    return _build(data, text, source)


def _build(data: dict[str, Any], text: str, source: str) -> Scenario:
    variables: dict[str, Any] = {}
    variable_help: dict[str, str] = {}
    for name, spec in (data.get("variables") or {}).items():
        if isinstance(spec, dict):
            variables[name] = spec["default"]
            variable_help[name] = spec.get("description", "")
        else:
            variables[name] = spec
    steps = [
        Step(
            name=raw["name"],
            operation=raw["operation"],
            params=raw.get("params") or {},
            expect=raw.get("expect") or {},
            save=raw.get("save") or {},
            description=raw.get("description", ""),
        )
        for raw in data["steps"]
    ]
    return Scenario(
        name=data["name"],
        description=data.get("description", ""),
        variables=variables,
        steps=steps,
        stop_on_failure=(data.get("options") or {}).get("stop_on_failure", True),
        text=text,
        source=source,
        variable_help=variable_help,
    )


def load_scenario_file(path: str | FilePath) -> Scenario:
    """Read and validate a scenario file; ``ScenarioError`` also when it cannot be read."""
    file_path = FilePath(path)
    try:
        data = file_path.read_bytes()
    except OSError as exc:
        raise ScenarioError([f"cannot read the file: {exc.strerror or exc}"], str(path)) from None
    return load_scenario(data, source=str(path))


def coerce_variable(default: Any, raw: str) -> Any:
    """A ``--var k=v`` text as the type of the variable's default (number, boolean or text)."""
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in {"true", "yes", "1", "on"}:
            return True
        if lowered in {"false", "no", "0", "off"}:
            return False
        raise ValueError(f"{raw!r} is not a boolean (true/false)")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not an integer") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a number") from None
    return raw
