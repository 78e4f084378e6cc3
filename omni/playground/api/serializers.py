"""Serializers of ``POST /api/test/mcp``: every input is validated here before anything runs."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from omni.playground.models import TestRun
from omni.playground.operations import MAX_BATCH, OPERATION_NAMES, PROTOCOLS, clean_params

PARAMS_HELP = (
    "The operation's parameters: tools/call {name, arguments}; prompts/get {name, arguments}; "
    "resources/read {uri}; the list operations {cursor?}; ping {}; jsonrpc {method, params} "
    "(the raw JSON-RPC console: any method)."
)
PROTOCOL_HELP = (
    "2026-07-28 (default: single exchange, direct dispatch) or legacy (the initialize handshake; "
    "the default for ping, which 2026-07-28 removed)."
)


class OperationSerializer(serializers.Serializer):
    operation = serializers.ChoiceField(choices=OPERATION_NAMES)
    params = serializers.JSONField(required=False, default=dict, help_text=PARAMS_HELP)
    protocol = serializers.ChoiceField(choices=PROTOCOLS, required=False, help_text=PROTOCOL_HELP)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["params"] = clean_params(attrs["operation"], attrs.get("params"))
        return attrs


class McpTestRequestSerializer(serializers.Serializer):
    """One operation (``operation`` + ``params``) or a batch (``operations``), for ``organization``."""

    organization = serializers.SlugField(
        max_length=50, help_text="The slug of an organization you belong to."
    )
    operation = serializers.ChoiceField(choices=OPERATION_NAMES, required=False)
    params = serializers.JSONField(required=False, help_text=PARAMS_HELP)
    protocol = serializers.ChoiceField(choices=PROTOCOLS, required=False, help_text=PROTOCOL_HELP)
    operations = OperationSerializer(
        many=True,
        required=False,
        min_length=1,
        max_length=MAX_BATCH,
        help_text=f"A batch of 1 to {MAX_BATCH}.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        single = "operation" in attrs
        batch = "operations" in attrs
        if single == batch:
            raise serializers.ValidationError(
                {"non_field_errors": ["Send either 'operation' (one) or 'operations' (a batch), not both."]}
            )
        if batch:
            stray = [name for name in ("params", "protocol") if name in attrs]
            if stray:
                raise serializers.ValidationError(
                    {name: ["Give it inside each item of 'operations'."] for name in stray}
                )
            attrs["items"] = list(attrs["operations"])
            return attrs
        item = {
            "operation": attrs["operation"],
            "params": clean_params(attrs["operation"], attrs.get("params")),
        }
        if "protocol" in attrs:
            item["protocol"] = attrs["protocol"]
        attrs["items"] = [item]
        return attrs


# --------------------------------------------------------------------------- responses
class ErrorSerializer(serializers.Serializer):
    code = serializers.IntegerField(help_text="The JSON-RPC error code.")
    message = serializers.CharField()
    data = serializers.JSONField(allow_null=True)


class CheckSerializer(serializers.Serializer):
    checked = serializers.BooleanField(help_text="Whether this check ran.")
    valid = serializers.BooleanField(allow_null=True, help_text="Its verdict (null when it did not run).")
    errors = serializers.ListField(child=serializers.CharField())
    type = serializers.CharField(
        required=False, allow_null=True, help_text="The MCP result type checked against."
    )
    reason = serializers.CharField(required=False, help_text="Why the check did not run.")


class ValidationSerializer(serializers.Serializer):
    schema = CheckSerializer(required=False, help_text="The result against the MCP schema of its method.")
    output_schema = CheckSerializer(
        required=False, help_text="tools/call: structuredContent against the tool's outputSchema."
    )


class ResultSerializer(serializers.Serializer):
    run_id = serializers.UUIDField(help_text="The stored test run (history).")
    operation = serializers.ChoiceField(choices=OPERATION_NAMES)
    method = serializers.CharField(help_text="The JSON-RPC method sent.")
    target = serializers.CharField(help_text="The tool or prompt name, resource URI or raw method.")
    protocol = serializers.CharField(help_text="The protocol revision negotiated.")
    outcome = serializers.ChoiceField(choices=TestRun.Outcome.choices)
    duration_ms = serializers.FloatField()
    request = serializers.JSONField(help_text="The JSON-RPC request sent.")
    response = serializers.JSONField(allow_null=True, help_text="The JSON-RPC result (null on an error).")
    error = ErrorSerializer(allow_null=True)
    validation = ValidationSerializer()
    events = serializers.ListField(
        child=serializers.JSONField(), help_text="Progress and log notifications with their timing (at_ms)."
    )


class SummarySerializer(serializers.Serializer):
    total = serializers.IntegerField()
    ok = serializers.IntegerField()
    error = serializers.IntegerField()
    invalid = serializers.IntegerField()
    duration_ms = serializers.FloatField(help_text="The sum of the runs' durations.")


class McpTestResponseSerializer(serializers.Serializer):
    organization = serializers.SlugField()
    results = ResultSerializer(many=True)
    summary = SummarySerializer()


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()
