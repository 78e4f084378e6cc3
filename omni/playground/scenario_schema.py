"""The JSON Schema of a scenario file (see docs/scenarios.md) and the names it fixes."""

from __future__ import annotations

from typing import Any

MAX_SCENARIO_BYTES = 256 * 1024
MAX_STEPS = 100
MAX_FLOW_DEPTH = 64
OPERATIONS = (
    "ping",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/read",
    "resources/templates/list",
)
CHECKS = ("exists", "equals", "contains", "matches", "approx", "length", "type")
JSON_TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")
# Names every scenario can use in {{ }} without declaring them.
BUILTIN_NAMES = ("steps", "org", "run")
_NAME = r"^[a-z][a-z0-9_]{0,62}$"

_SCALAR = {"type": ["string", "number", "boolean", "null"]}
_LIST_PARAMS = {
    "type": "object",
    "properties": {"cursor": {"type": "string"}},
    "additionalProperties": False,
}


def _params_rule(operation: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "if": {"properties": {"operation": {"const": operation}}, "required": ["operation"]},
        "then": {
            "properties": {"params": schema},
            **({"required": ["params"]} if "required" in schema else {}),
        },
    }


SCENARIO_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["name", "steps"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": _NAME},
        "description": {"type": "string", "maxLength": 2000},
        "variables": {
            "type": "object",
            "propertyNames": {"pattern": _NAME, "not": {"enum": list(BUILTIN_NAMES)}},
            "additionalProperties": {
                "anyOf": [
                    _SCALAR,
                    {
                        "type": "object",
                        "required": ["default"],
                        "additionalProperties": False,
                        "properties": {"default": _SCALAR, "description": {"type": "string"}},
                    },
                ]
            },
        },
        "options": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"stop_on_failure": {"type": "boolean"}},
        },
        "steps": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_STEPS,
            "items": {
                "type": "object",
                "required": ["name", "operation"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "pattern": _NAME},
                    "description": {"type": "string"},
                    "operation": {"enum": list(OPERATIONS)},
                    "params": {"type": "object"},
                    "expect": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "status": {"enum": ["ok", "error"]},
                            "jsonpath": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["path"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "path": {"type": "string", "minLength": 1},
                                        "exists": {"type": "boolean"},
                                        "equals": {},
                                        "contains": {},
                                        "matches": {"type": "string", "maxLength": 500},
                                        "approx": {"type": "number"},
                                        "tolerance": {"type": "number", "minimum": 0},
                                        "length": {"type": "integer", "minimum": 0},
                                        "type": {"enum": list(JSON_TYPES)},
                                    },
                                },
                            },
                            "schema": {"type": "object"},
                        },
                    },
                    "save": {
                        "type": "object",
                        "propertyNames": {"pattern": _NAME, "not": {"enum": list(BUILTIN_NAMES)}},
                        "additionalProperties": {"type": "string"},
                    },
                },
                "allOf": [
                    _params_rule(
                        "tools/call",
                        {
                            "type": "object",
                            "required": ["name"],
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string", "minLength": 1},
                                "arguments": {"type": "object"},
                            },
                        },
                    ),
                    _params_rule(
                        "prompts/get",
                        {
                            "type": "object",
                            "required": ["name"],
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string", "minLength": 1},
                                "arguments": {"type": "object"},
                            },
                        },
                    ),
                    _params_rule(
                        "resources/read",
                        {
                            "type": "object",
                            "required": ["uri"],
                            "additionalProperties": False,
                            "properties": {"uri": {"type": "string", "minLength": 1}},
                        },
                    ),
                    *[_params_rule(op, _LIST_PARAMS) for op in OPERATIONS if op.endswith("/list")],
                    _params_rule("ping", {"type": "object", "maxProperties": 0}),
                ],
            },
        },
    },
}
