"""The JSON Schema of a load profile (docs/loadtesting.md, "Profiles") and the names it fixes.

The schema checks shapes and types; what it cannot say (one of tool/prompt/resource/scenario,
durations, thresholds, cron, which keys go with which arrival shape) is checked in ``checks.py``.
"""

from __future__ import annotations

from typing import Any

MAX_PROFILE_BYTES = 64 * 1024
MAX_FLOW_DEPTH = 32
MAX_OPERATIONS = 50
MAX_ORGANIZATIONS = 100
MAX_SCENARIO_STEPS = 50
MAX_SAMPLES = 100_000

MODES = ("2026-07-28", "handshake", "sse")
# Revisions a handshake-mode profile may initialize with (the SDK's Streamable HTTP revisions).
HANDSHAKE_REVISIONS = ("2025-03-26", "2025-06-18", "2025-11-25")
DEFAULT_REVISION = "2025-11-25"
SHAPES = ("constant", "ramp", "step", "spike")
# Operations given as a plain string (no name or arguments needed).
SHORTHAND_OPERATIONS = ("tools/list", "prompts/list", "resources/list")
SCENARIO_OPERATIONS = (
    "ping",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/read",
    "resources/templates/list",
)
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,99}$"
SERVER_NAME_PATTERN = r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$"
LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,99}$"

_DURATION = {"type": ["number", "string"]}
_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
_WEIGHT = {"type": "number", "exclusiveMinimum": 0, "maximum": 1_000_000}
_ARGUMENTS = {"type": "object", "maxProperties": 100}

_OPERATION = {
    "anyOf": [
        {"type": "string", "enum": list(SHORTHAND_OPERATIONS)},
        {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {
                "tool": {"type": "string", "minLength": 1, "maxLength": 200},
                "prompt": {"type": "string", "minLength": 1, "maxLength": 200},
                "resource": {"type": "string", "minLength": 1, "maxLength": 2000},
                "scenario": {
                    "anyOf": [
                        {"type": "string", "minLength": 1, "maxLength": 200},
                        {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": MAX_SCENARIO_STEPS,
                            "items": {
                                "type": "object",
                                "required": ["operation"],
                                "additionalProperties": False,
                                "properties": {
                                    "name": {"type": "string", "maxLength": 100},
                                    "operation": {"enum": list(SCENARIO_OPERATIONS)},
                                    "params": {"type": "object"},
                                    "save": {
                                        "type": "object",
                                        "additionalProperties": {"type": "string"},
                                    },
                                },
                            },
                        },
                    ]
                },
                "operation": {"enum": list(SHORTHAND_OPERATIONS)},
                "arguments": _ARGUMENTS,
                "weight": _WEIGHT,
                "label": {"type": "string", "pattern": LABEL_PATTERN},
            },
        },
    ]
}

_ARRIVAL = {
    "type": "object",
    "additionalProperties": False,
    "required": ["model"],
    "properties": {
        "model": {"enum": ["closed", "open"]},
        # closed
        "users": {"type": "integer", "minimum": 1},
        "think": _DURATION,
        # open
        "rate": _POSITIVE,
        "shape": {"enum": list(SHAPES)},
        "rate_to": _POSITIVE,
        "steps": {
            "type": "array",
            "minItems": 1,
            "maxItems": 100,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["at", "rate"],
                "properties": {"at": _DURATION, "rate": _POSITIVE},
            },
        },
        "spike_rate": _POSITIVE,
        "spike_at": _DURATION,
        "spike_for": _DURATION,
        "max_in_flight": {"type": "integer", "minimum": 1, "maximum": 100_000},
    },
}

_THRESHOLD_LIST = {
    "type": "array",
    "maxItems": 50,
    "items": {"type": "string", "minLength": 1, "maxLength": 200},
}

PROFILE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "operations", "arrival", "duration"],
    "properties": {
        "name": {"type": "string", "pattern": NAME_PATTERN},
        "title": {"type": "string", "maxLength": 200},
        "description": {"type": "string", "maxLength": 4000},
        "mode": {"enum": list(MODES)},
        "revision": {"type": "string"},
        "target": {"type": "string", "maxLength": 150},
        "direct": {"type": "string", "pattern": SERVER_NAME_PATTERN, "maxLength": 40},
        "operations": {"type": "array", "minItems": 1, "maxItems": MAX_OPERATIONS, "items": _OPERATION},
        "arrival": _ARRIVAL,
        "warmup": _DURATION,
        "duration": _DURATION,
        "timeout": _DURATION,
        "shards": {"type": "integer", "minimum": 1, "maximum": 1000},
        "organizations": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_ORGANIZATIONS,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["org"],
                "properties": {
                    "org": {"type": "string", "pattern": r"^[-a-zA-Z0-9_]{1,50}$"},
                    "weight": _WEIGHT,
                },
            },
        },
        "thresholds": _THRESHOLD_LIST,
        "slo": _THRESHOLD_LIST,
        "schedule": {"type": "string", "maxLength": 100},
        "seed": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
        "samples": {"type": "integer", "minimum": 0, "maximum": MAX_SAMPLES},
    },
}
