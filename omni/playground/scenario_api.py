"""``POST /api/test/scenarios``: run a shipped scenario (by name) or a YAML text for an organization.

Authentication and permissions are those of ``/api/test/mcp``: a member of the organization (others
get 404), whose role may run every operation of the scenario (else 403). An invalid scenario or
variable is a 400 with the errors (line and field) and runs nothing; a run answers 200 with its
report, whether it passed or failed (``status`` / ``passed``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from omni.playground.models import ScenarioRun
from omni.playground.scenario_library import load_shipped
from omni.playground.scenario_spec import MAX_SCENARIO_BYTES, ScenarioError, load_scenario
from omni.playground.scenarios import check_scenario_allowed, run_scenario
from omni.tenants.services import resolve_user_context


class ScenarioRequestSerializer(serializers.Serializer):
    organization = serializers.SlugField(
        max_length=50, help_text="The slug of an organization you belong to."
    )
    scenario = serializers.CharField(
        required=False, max_length=100, help_text="The name of a shipped scenario (e.g. notes_crud)."
    )
    yaml = serializers.CharField(
        required=False,
        max_length=MAX_SCENARIO_BYTES,
        trim_whitespace=False,
        help_text="A scenario file's text (see docs/scenarios.md).",
    )
    variables = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        default=dict,
        help_text="Values for the scenario's variables (text, number, boolean or null).",
    )
    stop_on_failure = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="Override the scenario's option."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("scenario" in attrs) == ("yaml" in attrs):
            raise serializers.ValidationError(
                {
                    "non_field_errors": [
                        "Send either 'scenario' (a shipped name) or 'yaml' (a scenario's text)."
                    ]
                }
            )
        return attrs


class CheckResultSerializer(serializers.Serializer):
    kind = serializers.CharField()
    target = serializers.CharField()
    passed = serializers.BooleanField()
    message = serializers.CharField()


class StepResultSerializer(serializers.Serializer):
    name = serializers.CharField()
    operation = serializers.CharField()
    status = serializers.ChoiceField(choices=["passed", "failed", "skipped"])
    outcome = serializers.CharField(help_text="ok, error or invalid; empty when the step did not run.")
    params = serializers.JSONField(allow_null=True, help_text="The parameters sent (references filled in).")
    checks = CheckResultSerializer(many=True)
    message = serializers.CharField(allow_blank=True)
    duration_ms = serializers.FloatField()
    test_run_id = serializers.UUIDField(allow_null=True, help_text="The stored test run (history).")
    saved = serializers.JSONField(help_text="Variables this step saved.")


class ScenarioReportSerializer(serializers.Serializer):
    run_id = serializers.UUIDField()
    name = serializers.CharField()
    organization = serializers.SlugField()
    status = serializers.ChoiceField(choices=ScenarioRun.Status.choices)
    passed = serializers.BooleanField()
    variables = serializers.JSONField()
    steps = StepResultSerializer(many=True)
    duration_ms = serializers.FloatField()
    message = serializers.CharField(allow_blank=True)


class ScenarioTestView(APIView):
    """Run a scenario and return its report."""

    parser_classes = [JSONParser]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="test_scenario",
        summary="Run a scenario under an organization's context",
        request=ScenarioRequestSerializer,
        responses={
            200: ScenarioReportSerializer,
            400: OpenApiResponse(
                description=(
                    "Invalid body: field errors keyed like the body (or `detail` for JSON that does not "
                    "parse). Invalid scenario or variables: `{detail, errors}`, one line per problem."
                )
            ),
            403: OpenApiResponse(description="Your role may not run one of the scenario's operations."),
            404: OpenApiResponse(description="No such organization (or not a member)."),
        },
        examples=[
            OpenApiExample(
                "A shipped scenario",
                request_only=True,
                value={"organization": "acme", "scenario": "notes_crud", "variables": {"title": "From CI"}},
            ),
        ],
        tags=["playground"],
    )
    def post(self, request: Request) -> Response:
        body = ScenarioRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        ctx = resolve_user_context(request.user, data["organization"])  # 404 unless a member
        try:
            if "scenario" in data:
                scenario, origin = load_shipped(data["scenario"]), f"shipped:{data['scenario']}"
            else:
                scenario, origin = load_scenario(data["yaml"], source="request"), "inline"
        except ScenarioError as exc:
            return Response({"detail": "Invalid scenario.", "errors": exc.errors}, status=400)
        check_scenario_allowed(ctx, scenario)  # 403
        try:
            report = run_scenario(
                ctx,
                scenario,
                variables=data["variables"],
                user=request.user,
                trigger=ScenarioRun.Trigger.API,
                origin=origin,
                stop_on_failure=data["stop_on_failure"],
            )
        except ScenarioError as exc:
            return Response({"detail": "Invalid variables.", "errors": exc.errors}, status=400)
        return Response(ScenarioReportSerializer({**report.as_dict(), "passed": report.passed}).data)
