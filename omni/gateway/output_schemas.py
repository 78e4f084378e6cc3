"""Downstream tool results are checked against their ``outputSchema`` on RE2, under a budget.

The SDK client re-validates every structured tool result against the schema the server listed,
with stock ``jsonschema`` (Python's ``re`` for ``pattern``, no work limit) inside the gateway's
event loop. The schema comes from a server an organization registered, so it is untrusted: a
catastrophic ``pattern`` or a ``$ref``/``anyOf`` bomb in an ``outputSchema`` would freeze every
tenant. ``harden(session)`` swaps the session's ``validate_tool_result`` for one with the SDK's
semantics (same errors, same messages) on ``omni.security.schemas``.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import mcp_types as types

from omni.security import schemas as safe_schemas


class OutputSchemaError(RuntimeError):
    """The result breaks the tool's outputSchema, or the schema cannot be checked safely."""

    category = "the result does not match the tool's outputSchema, or the schema cannot be checked safely"


async def _validate_tool_result(session: Any, name: str, result: types.CallToolResult) -> None:
    if name not in session._tool_output_schemas:
        await session.list_tools()  # the SDK refreshes its schema cache the same way
    output_schema = session._tool_output_schemas.get(name)
    if output_schema is None:
        return
    if result.structured_content is None and "structured_content" not in result.model_fields_set:
        raise OutputSchemaError(f"Tool {name} has an output schema but did not return structured content")
    try:
        # The SDK evicts a tool's cached validator whenever the server lists a different schema.
        validator = session._tool_output_validators.get(name)
        if validator is None:
            safe_schemas.check_schema(output_schema)
            validator = safe_schemas.build_validator(output_schema)
            session._tool_output_validators[name] = validator
        errors = safe_schemas.collect_errors(validator, result.structured_content)
    except (safe_schemas.SchemaProblem, jsonschema.SchemaError) as exc:
        raise OutputSchemaError(f"Invalid schema for tool {name}: {exc}") from None
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        raise OutputSchemaError(f"Invalid structured content returned by tool {name}: {error}")


def harden(session: Any) -> None:
    """Make ``session`` (an SDK ``ClientSession``) check output schemas safely."""

    async def validate_tool_result(name: str, result: types.CallToolResult) -> None:
        await _validate_tool_result(session, name, result)

    session.validate_tool_result = validate_tool_result
