"""``POST /api/test/mcp``: run MCP operations under an organization's context, for its members."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from omni.playground import services
from omni.playground.api.serializers import (
    DetailSerializer,
    McpTestRequestSerializer,
    McpTestResponseSerializer,
)
from omni.playground.models import TestRun
from omni.playground.runner import RunResult
from omni.security.buckets import McpRefusal, charge_mcp
from omni.tenants.services import resolve_user_context

DOOR = "api"


def rate_limited(refusal: McpRefusal) -> Response:
    """429 with ``Retry-After`` and ``{detail, code: "rate_limited", limit, retry_after}``."""
    return Response(refusal.as_dict(), status=429, headers={"Retry-After": str(refusal.retry_after)})


def _result(run: TestRun, result: RunResult) -> dict[str, Any]:
    return {
        "run_id": run.public_id,
        "operation": result.operation,
        "method": result.method,
        "target": result.target,
        "protocol": result.protocol,
        "outcome": result.outcome,
        "duration_ms": result.duration_ms,
        "request": result.request,
        "response": result.response,
        "error": result.error,
        "validation": result.validation,
        "events": result.events,
    }


def _summary(results: list[RunResult]) -> dict[str, Any]:
    return {
        "total": len(results),
        "ok": sum(r.outcome == TestRun.Outcome.OK for r in results),
        "error": sum(r.outcome == TestRun.Outcome.ERROR for r in results),
        "invalid": sum(r.outcome == TestRun.Outcome.INVALID for r in results),
        "duration_ms": round(sum(r.duration_ms for r in results), 3),
    }


class McpTestView(APIView):
    """Run one MCP operation, or a batch, exactly as the organization's clients get it."""

    parser_classes = [JSONParser]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="test_mcp",
        summary="Run MCP operations under an organization's context",
        description=(
            "Runs one operation (`operation` + `params`) or a batch (`operations`, at most 20, run in "
            "order) through the gateway as the organization's MCP clients get it. Each result has its "
            "timing, the JSON-RPC request and response (or error), and a validation of the response "
            "against the MCP schema (and, for tools/call, the tool's outputSchema). Every run is stored "
            "in the organization's test-run history. Nothing runs, and nothing is stored, unless the "
            "whole body is valid and allowed. Each operation draws one unit from the same per-user and "
            "per-organization rate-limit buckets as `/mcp` (a batch of 20 costs 20, charged before "
            "anything runs): over a limit nothing runs and the answer is 429 with `Retry-After`."
        ),
        request=McpTestRequestSerializer,
        responses={
            200: McpTestResponseSerializer,
            400: OpenApiResponse(description="Invalid body: field errors, keyed like the body."),
            401: OpenApiResponse(DetailSerializer, description="Not authenticated."),
            403: OpenApiResponse(DetailSerializer, description="Your role may not run an operation."),
            404: OpenApiResponse(DetailSerializer, description="No such organization (or not a member)."),
            415: OpenApiResponse(DetailSerializer, description="The body is not JSON."),
            429: OpenApiResponse(
                description="A rate limit is reached: `{detail, code, limit, retry_after}`; nothing ran."
            ),
        },
        examples=[
            OpenApiExample(
                "Call a tool",
                request_only=True,
                value={
                    "organization": "acme",
                    "operation": "tools/call",
                    "params": {"name": "utilities__calculate", "arguments": {"expression": "2*(3+4)"}},
                },
            ),
            OpenApiExample(
                "A batch",
                request_only=True,
                value={
                    "organization": "acme",
                    "operations": [
                        {"operation": "tools/list"},
                        {
                            "operation": "prompts/get",
                            "params": {"name": "greet", "arguments": {"who": "Ada"}},
                        },
                        {"operation": "resources/read", "params": {"uri": "docs://omni/limits"}},
                    ],
                },
            ),
        ],
        tags=["playground"],
    )
    def post(self, request: Request) -> Response:
        serializer = McpTestRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        ctx = resolve_user_context(request.user, data["organization"])  # 404 unless a member
        for item in data["items"]:
            services.check_allowed(ctx, item["operation"], item["params"])  # 403
        refusal = charge_mcp(ctx, len(data["items"]), door=DOOR)
        if refusal is not None:
            return rate_limited(refusal)  # 429: nothing ran, nothing stored
        done = services.run_batch(ctx, data["items"], user=request.user, source=TestRun.Source.API)
        body = {
            "organization": ctx.org_slug,
            "results": [_result(run, result) for run, result in done],
            "summary": _summary([result for _, result in done]),
        }
        return Response(McpTestResponseSerializer(body).data)
