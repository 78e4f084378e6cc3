"""The MCP operations the playground and /api/test/mcp can run, their parameters and permissions.

One table says, for each operation, which JSON-RPC method it sends, how its parameters are
validated (a DRF serializer, shared by the API and the websocket consumer), which capability the
actor needs (``omni.tenants.permissions``) and what its "target" is (the tool or prompt name, the
resource URI, the raw method), which history and analytics group by.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework import serializers

from omni.tenants.permissions import PROMPTS_READ, REGISTRY_READ, RESOURCES_READ, TOOLS_CALL

# The protocol revision the runner speaks unless told otherwise (direct in-process dispatch), and
# the one that still has the initialize handshake (ping only exists there).
MODERN = "2026-07-28"
LEGACY = "legacy"
PROTOCOLS = (MODERN, LEGACY)
MAX_BATCH = 20
RAW = "jsonrpc"


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise serializers.ValidationError({field: ["Must be a JSON object."]})
    return value


class StrictCharField(serializers.CharField):
    """A string, and only a string (DRF's CharField would turn 1 into "1")."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class NoParams(serializers.Serializer):
    """Operations without parameters."""


class ListParams(serializers.Serializer):
    cursor = StrictCharField(required=False, max_length=200, help_text="A page cursor from a previous page.")


class CallToolParams(serializers.Serializer):
    name = StrictCharField(max_length=200, help_text="The namespaced tool name, e.g. utilities__calculate.")
    arguments = serializers.JSONField(
        required=False, default=dict, help_text="The tool's arguments (an object)."
    )

    def validate_arguments(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value


class GetPromptParams(serializers.Serializer):
    name = StrictCharField(max_length=200)
    arguments = serializers.DictField(
        child=StrictCharField(allow_blank=True, max_length=100_000),
        required=False,
        default=dict,
        help_text="Prompt arguments: names to string values.",
    )


class ReadResourceParams(serializers.Serializer):
    uri = StrictCharField(max_length=2000)


class RawParams(serializers.Serializer):
    method = serializers.RegexField(
        r"^[A-Za-z0-9_./-]{1,100}$", help_text="Any JSON-RPC method, e.g. tools/list or completion/complete."
    )
    params = serializers.JSONField(required=False, default=None, help_text="The method's params (an object).")

    def validate_params(self, value: Any) -> dict[str, Any] | None:
        if value is not None and not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object or null.")
        return value


@dataclass(frozen=True)
class Operation:
    name: str
    params: type[serializers.Serializer]
    capability: str
    target_key: str | None = None  # which parameter is the target

    def method_of(self, params: dict[str, Any]) -> str:
        return params["method"] if self.name == RAW else self.name

    def target_of(self, params: dict[str, Any]) -> str:
        if self.name == RAW:
            return params["method"]
        return str(params.get(self.target_key, "")) if self.target_key else ""

    def rpc_params(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """The JSON-RPC ``params`` this operation sends."""
        if self.name == RAW:
            return params.get("params")
        return {key: value for key, value in params.items() if value is not None} or None

    def capability_of(self, params: dict[str, Any]) -> str:
        """What the actor needs; a raw request needs what its method needs (tools/call: call)."""
        if self.name == RAW:
            known = OPERATIONS.get(params["method"])
            return known.capability if known is not None and known.name != RAW else TOOLS_CALL
        return self.capability


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation("tools/list", ListParams, REGISTRY_READ),
        Operation("tools/call", CallToolParams, TOOLS_CALL, "name"),
        Operation("prompts/list", ListParams, PROMPTS_READ),
        Operation("prompts/get", GetPromptParams, PROMPTS_READ, "name"),
        Operation("resources/list", ListParams, RESOURCES_READ),
        Operation("resources/templates/list", ListParams, RESOURCES_READ),
        Operation("resources/read", ReadResourceParams, RESOURCES_READ, "uri"),
        Operation("ping", NoParams, REGISTRY_READ),
        Operation(RAW, RawParams, TOOLS_CALL),
    )
}
OPERATION_NAMES: tuple[str, ...] = tuple(OPERATIONS)


def clean_params(operation: str, params: Any) -> dict[str, Any]:
    """The validated parameters of ``operation``; raises DRF ``ValidationError`` with field errors."""
    op = OPERATIONS.get(operation)
    if op is None:
        raise serializers.ValidationError(
            {"operation": [f"Unknown operation; expected one of {OPERATION_NAMES}."]}
        )
    serializer = op.params(data=_object(params if params is not None else {}, "params"))
    if not serializer.is_valid():
        raise serializers.ValidationError({"params": serializer.errors})
    return dict(serializer.validated_data)


def default_protocol(operation: str, params: dict[str, Any]) -> str:
    """ping exists only in the handshake revisions (2026-07-28 removed it); the rest default to modern."""
    method = params.get("method") if operation == RAW else operation
    return LEGACY if method == "ping" else MODERN
