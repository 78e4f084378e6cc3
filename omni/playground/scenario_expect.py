"""Checking one step's outcome against its ``expect`` block: status, JSONPath checks, JSON Schema.

Every check yields a ``Check`` (what was checked, passed or not, and a message a person can act on).
Regular expressions run on RE2 (linear time) and JSON Schemas under the schema budget
(``omni.security.schemas``), so a scenario cannot hang a worker.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from omni.playground.scenario_paths import find, parse_jsonpath
from omni.security import schemas as safe_schemas

DEFAULT_TOLERANCE = 1e-6
MAX_SHOWN = 200


@dataclass(frozen=True)
class Check:
    kind: str  # status, exists, equals, contains, matches, approx, length, type, schema
    target: str  # the path, or "" for status/schema
    passed: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def shown(value: Any) -> str:
    """A short JSON rendering of a value for messages."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: 1 == 1.0, but true is not 1 and "1" is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, list):
        return any(json_equal(element, item) for element in container)
    if isinstance(container, dict):
        if isinstance(item, dict):
            return all(key in container and json_equal(container[key], v) for key, v in item.items())
        return isinstance(item, str) and item in container
    return False


def _check_value(kind: str, spec: dict[str, Any], value: Any) -> tuple[bool, str]:
    expected = spec[kind]
    if kind == "equals":
        return json_equal(value, expected), f"expected {shown(expected)}, got {shown(value)}"
    if kind == "contains":
        return _contains(value, expected), f"expected {shown(value)} to contain {shown(expected)}"
    if kind == "matches":
        if not isinstance(value, str):
            return False, f"expected text matching /{expected}/, got {shown(value)}"
        try:
            found = safe_schemas.matches(expected, value)
        except safe_schemas.UnsupportedPattern as exc:
            return False, f"/{expected}/ cannot be used: {exc}"
        return found, f"expected text matching /{expected}/, got {shown(value)}"
    if kind == "approx":
        tolerance = spec.get("tolerance", DEFAULT_TOLERANCE)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False, f"expected a number near {expected}, got {shown(value)}"
        ok = math.isfinite(value) and abs(value - expected) <= tolerance
        return ok, f"expected {expected} ± {tolerance:g}, got {value}"
    if kind == "length":
        if not isinstance(value, str | list | dict):
            return False, f"expected something with a length of {expected}, got {shown(value)}"
        return len(value) == expected, f"expected length {expected}, got {len(value)}"
    if kind == "type":
        actual = json_type(value)
        ok = actual == expected or (expected == "number" and actual == "integer")
        return ok, f"expected a value of type {expected}, got {actual} {shown(value)}"
    raise ValueError(f"unknown check {kind!r}")


def check_path(spec: dict[str, Any], document: Any) -> Check:
    """One ``{path, <check>: …}`` entry against ``document``."""
    path = parse_jsonpath(spec["path"])
    matches = find(document, path)
    kind = next(name for name in spec if name not in ("path", "tolerance"))
    if kind == "exists":
        found = bool(matches)
        message = f"{'found' if found else 'no value'} at {path.text}"
        return Check("exists", path.text, found == spec["exists"], message)
    if not matches:
        return Check(kind, path.text, False, f"no value at {path.text}")
    value = matches if path.has_wildcard else matches[0]
    passed, message = _check_value(kind, spec, value)
    return Check(kind, path.text, passed, message if not passed else f"{path.text}: {kind} ok")


def check_schema(schema: dict[str, Any], document: Any) -> Check:
    try:
        validator = safe_schemas.build_validator(schema)
        errors = sorted(safe_schemas.collect_errors(validator, document), key=lambda e: list(e.absolute_path))
    except safe_schemas.SchemaProblem as exc:
        return Check("schema", "", False, f"the schema cannot be checked: {exc}")
    if not errors:
        return Check("schema", "", True, "the result matches the schema")
    first = errors[0]
    where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first.absolute_path)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return Check("schema", "", False, f"{where}: {first.message}{more}")


def evaluate(expect: dict[str, Any], status: str, document: Any) -> list[Check]:
    """Every check of an ``expect`` block (already substituted) against a step's outcome.

    ``status`` is "ok" or "error"; when it is not the expected one, the other checks still run, so a
    report shows everything that differs.
    """
    wanted = expect.get("status", "ok")
    checks = [Check("status", "", status == wanted, f"expected status {wanted}, got {status}")]
    for spec in expect.get("jsonpath") or []:
        checks.append(check_path(spec, document))
    if "schema" in expect:
        checks.append(check_schema(expect["schema"], document))
    return checks
