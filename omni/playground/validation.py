"""Checking a response: against the MCP result type of its method, and a tool's outputSchema.

Problems are reported as data (``{"valid": False, "errors": [...]}``), never raised: a response
that breaks the schema is exactly what a tester wants to see.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from mcp_types import methods
from pydantic import ValidationError
from referencing.exceptions import Unresolvable

from omni.security import schemas as safe_schemas

MAX_ERRORS = 20


def _pydantic_errors(exc: ValidationError) -> list[str]:
    errors = []
    for error in exc.errors()[:MAX_ERRORS]:
        where = ".".join(str(part) for part in error.get("loc", ())) or "(root)"
        errors.append(f"{where}: {error.get('msg', 'invalid')}")
    return errors


def result_type_name(method: str, version: str) -> str | None:
    """The name of the MCP result type ``method`` answers with at ``version`` (None: not in the spec)."""
    row = methods.SERVER_RESULTS.get((method, version))
    if row is None:
        return None
    return getattr(row, "__name__", None) or " | ".join(
        getattr(arg, "__name__", str(arg)) for arg in row.__args__
    )


def validate_result(method: str, version: str, result: dict[str, Any]) -> dict[str, Any]:
    """``result`` checked against the MCP schema of ``method`` at protocol ``version``."""
    type_name = result_type_name(method, version)
    if type_name is None:
        return {"checked": False, "valid": None, "type": None, "errors": []}
    try:
        methods.validate_server_result(method, version, result)
    except ValidationError as exc:
        return {"checked": True, "valid": False, "type": type_name, "errors": _pydantic_errors(exc)}
    return {"checked": True, "valid": True, "type": type_name, "errors": []}


def validate_tool_output(output_schema: dict[str, Any] | None, result: dict[str, Any]) -> dict[str, Any]:
    """A tools/call result's ``structuredContent`` checked against the tool's ``outputSchema``.

    Not checked when the tool declares no outputSchema or the result is a tool error (``isError``).
    """
    if not output_schema:
        return {"checked": False, "valid": None, "errors": [], "reason": "the tool declares no outputSchema"}
    if result.get("isError"):
        return {"checked": False, "valid": None, "errors": [], "reason": "the tool reported an error"}
    if "structuredContent" not in result or result["structuredContent"] is None:
        return {
            "checked": True,
            "valid": False,
            "errors": ["(root): the tool declares an outputSchema but returned no structuredContent"],
        }
    try:
        # The schema is a downstream server's: RE2 for its patterns, and the schema budget.
        safe_schemas.check_schema(output_schema)
        validator = safe_schemas.build_validator(output_schema)
        found = sorted(
            safe_schemas.collect_errors(validator, result["structuredContent"]),
            key=lambda e: list(e.absolute_path),
        )
    except jsonschema.exceptions.SchemaError as exc:
        return {
            "checked": True,
            "valid": False,
            "errors": [f"the outputSchema itself is invalid: {exc.message}"],
        }
    except Unresolvable as exc:
        return {
            "checked": True,
            "valid": False,
            "errors": [f"the outputSchema has an unresolvable $ref: {exc}"],
        }
    except safe_schemas.SchemaProblem as exc:
        return {
            "checked": True,
            "valid": False,
            "errors": [f"the outputSchema cannot be checked safely: {exc}"],
        }
    errors = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in found[:MAX_ERRORS]
    ]
    return {"checked": True, "valid": not errors, "errors": errors}


def is_valid(validation: dict[str, Any]) -> bool:
    """False when any check that ran failed."""
    return all(part.get("valid") is not False for part in validation.values() if isinstance(part, dict))


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (anything exotic becomes its string)."""
    return json.loads(json.dumps(value, default=str))
