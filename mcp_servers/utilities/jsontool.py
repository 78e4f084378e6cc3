"""``json_tool``: validate JSON, check it against a JSON Schema, read a value by path.

Schemas are checked by ``omni.security.schemas``: ``jsonschema`` with every regular expression
(``pattern``, ``patternProperties``, ``format: regex``) on the linear-time RE2 engine, a work budget
(``SCHEMA_MAX_*``) against ``$ref``/``anyOf`` amplification, and an empty ``referencing.Registry``
(a ``$ref`` to a remote URL is refused instead of fetched). The tool runs in the tool worker pool
(``mcp_servers.workers``), never on the gateway's event loop.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import jsonschema
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from omni.security import schemas

MAX_JSON_LENGTH = 500_000
MAX_SCHEMA_ERRORS = 50

# One path step: .name, [index], ["key"] or ['key'] (a leading name needs no dot; "$" is optional).
_STEP_RE = re.compile(
    r"""\.?(?P<name>[A-Za-z_$][\w$-]*)|\[\s*(?P<index>-?\d+)\s*\]|\[\s*(?P<q>["'])(?P<key>(?:\\.|(?!(?P=q)).)*)(?P=q)\s*\]"""
)


def parse_path(path: str) -> list[str | int]:
    """``a.b[0]["c d"]`` -> ``["a", "b", 0, "c d"]``; raises ``ToolError`` on bad syntax."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[str | int] = []
    pos = 0
    while pos < len(text):
        m = _STEP_RE.match(text, pos)
        if not m or (m.group("name") and pos > 0 and text[pos] != "."):
            raise ToolError(f'invalid path {path!r} at character {pos + 1}: use a.b[0].c or a["key"]')
        if m.group("name") is not None:
            steps.append(m.group("name"))
        elif m.group("index") is not None:
            steps.append(int(m.group("index")))
        else:
            steps.append(re.sub(r"\\(.)", r"\1", m.group("key")))
        pos = m.end()
    return steps


def resolve(document: Any, steps: list[str | int]) -> Any:
    """Follow ``steps`` into ``document``; raises ``LookupError`` saying where it stopped."""
    current = document
    walked = "$"
    for step in steps:
        if isinstance(step, int):
            if not isinstance(current, list):
                raise LookupError(f"{walked} is {_type_name(current)}, not an array: cannot take [{step}]")
            if not -len(current) <= step < len(current):
                raise LookupError(f"{walked}[{step}]: index out of range (array of {len(current)} items)")
            current = current[step]
            walked += f"[{step}]"
        else:
            if not isinstance(current, dict):
                raise LookupError(f"{walked} is {_type_name(current)}, not an object: cannot take .{step}")
            if step not in current:
                raise LookupError(f"{walked} has no key {step!r}")
            current = current[step]
            walked += f".{step}"
    return current


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class SchemaIssue(BaseModel):
    path: str = Field(description="Where in the document, e.g. $.items[2].price")
    message: str


class PathQuery(BaseModel):
    path: str
    found: bool
    value: Any = Field(None, description="The value at the path (when found)")
    type: str | None = Field(
        None, description="JSON type of the value: object/array/string/number/boolean/null"
    )
    error: str | None = Field(None, description="Why the path does not resolve (when not found)")


class JsonToolResult(BaseModel):
    valid_json: bool
    error: str | None = Field(None, description="The parse error (line, column) when valid_json is false")
    type: str | None = Field(None, description="JSON type of the document")
    schema_valid: bool | None = Field(
        None, description="Whether the document satisfies the schema (if given)"
    )
    schema_errors: list[SchemaIssue] = Field(default_factory=list, description="At most 50 violations")
    query: PathQuery | None = None


def _issue_path(error: jsonschema.ValidationError) -> str:
    out = "$"
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _check_schema(document: Any, schema: dict[str, Any]) -> list[SchemaIssue]:
    try:
        schemas.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ToolError(f"json_schema is not a valid JSON Schema: {exc.message}") from None
    except schemas.SchemaProblem as exc:
        raise ToolError(f"json_schema cannot be used: {exc}") from None
    try:
        validator = schemas.build_validator(schema, formats=True)
        errors = schemas.collect_errors(validator, document)
    except schemas.SchemaProblem as exc:
        raise ToolError(f"json_schema cannot be used: {exc}") from None
    errors.sort(key=lambda e: list(map(str, e.absolute_path)))
    return [SchemaIssue(path=_issue_path(e), message=e.message) for e in errors[:MAX_SCHEMA_ERRORS]]


def json_tool(
    json_text: Annotated[
        str,
        Field(
            max_length=MAX_JSON_LENGTH, description=f"The JSON document as text (<= {MAX_JSON_LENGTH} chars)"
        ),
    ],
    json_schema: Annotated[
        dict[str, Any] | None, Field(description="A JSON Schema (object) to validate the document against")
    ] = None,
    path: Annotated[
        str | None,
        Field(
            max_length=500, description='A path to read, e.g. a.b[0].c, $.items[-1] or a["key with spaces"]'
        ),
    ] = None,
) -> JsonToolResult:
    """Check that a text is valid JSON; optionally check it against a JSON Schema and read a value by path."""
    steps = parse_path(path) if path is not None else None
    try:
        document = json.loads(json_text)
    except json.JSONDecodeError as exc:
        return JsonToolResult(valid_json=False, error=f"{exc.msg} at line {exc.lineno}, column {exc.colno}")
    except (RecursionError, ValueError) as exc:
        return JsonToolResult(valid_json=False, error=f"cannot parse: {str(exc) or 'nested too deeply'}")
    result = JsonToolResult(valid_json=True, type=_type_name(document))
    if json_schema is not None:
        result.schema_errors = _check_schema(document, json_schema)
        result.schema_valid = not result.schema_errors
    if steps is not None and path is not None:
        try:
            value = resolve(document, steps)
        except LookupError as exc:
            result.query = PathQuery(path=path, found=False, error=str(exc))
        else:
            result.query = PathQuery(path=path, found=True, value=value, type=_type_name(value))
    return result
