"""Running one MCP operation exactly as an organization's clients get it.

The operation goes through the gateway's own server object (``gateway_server``: the same handlers,
catalogue, permissions and downstream forwarding that serve ``/mcp``) with the official SDK client
in-process, under the ``OrgContext`` that the one resolver produced. By default the client speaks
2026-07-28 (direct dispatch, no handshake); ``protocol="legacy"`` uses the initialize handshake
over in-memory streams (the only way to ``ping``).

Progress and log notifications, and the request and its outcome, are reported to ``on_event`` as
they happen; the whole run comes back as a ``RunResult``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio
import mcp_types as types
from django.conf import settings
from mcp import Client
from mcp.shared.exceptions import MCPError
from pydantic import TypeAdapter, ValidationError

from omni.gateway.server import current_context, gateway_server
from omni.playground.operations import OPERATIONS, PROTOCOLS, default_protocol
from omni.playground.validation import is_valid, jsonable, validate_result, validate_tool_output
from omni.tenants.context import OrgContext

logger = logging.getLogger(__name__)

EventSink = Callable[[dict[str, Any]], Awaitable[None]]
_RAW_RESULT = TypeAdapter(dict[str, Any])
# The code of a run that did not finish in time (JSON-RPC implementation-defined band).
PLAYGROUND_TIMEOUT_CODE = -32013

OK = "ok"
ERROR = "error"
INVALID = "invalid"


@dataclass
class RunResult:
    """One operation's run: what was sent, what came back, how long it took and whether it is valid."""

    operation: str
    method: str
    target: str
    protocol: str
    request: dict[str, Any]
    outcome: str
    duration_ms: float
    response: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    validation: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def error_text(self) -> str:
        if self.error is not None:
            return str(self.error.get("message", ""))
        if self.outcome == ERROR and self.response is not None:  # a tool error (isError)
            texts = [c.get("text", "") for c in self.response.get("content", []) if isinstance(c, dict)]
            return "\n".join(t for t in texts if t) or "the tool reported an error"
        if self.outcome == INVALID:
            problems = [
                e for part in self.validation.values() if isinstance(part, dict) for e in part["errors"]
            ]
            return "; ".join(problems)
        return ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


MAX_LIST_PAGES = 50


async def _output_schema(client: Client, tool: str) -> tuple[bool, dict[str, Any] | None]:
    """Whether ``tool`` is listed, and its outputSchema, as tools/list shows it to this client."""
    cursor = None
    for _ in range(MAX_LIST_PAGES):
        page = await client.session.send_request(
            types.Request[dict[str, Any] | None, str](
                method="tools/list", params={"cursor": cursor} if cursor else None
            ),
            _RAW_RESULT,
        )
        for listed in page.get("tools", []):
            if listed.get("name") == tool:
                return True, listed.get("outputSchema")
        cursor = page.get("nextCursor")
        if not cursor:
            break
    return False, None


async def run_operation(
    ctx: OrgContext,
    operation: str,
    params: dict[str, Any],
    *,
    protocol: str | None = None,
    on_event: EventSink | None = None,
    server: Any = None,
    timeout: float | None = None,
) -> RunResult:
    """Run ``operation`` (already validated ``params``, see ``operations.clean_params``) for ``ctx``.

    ``server`` defaults to the gateway's server; ``timeout`` to ``settings.PLAYGROUND_TIMEOUT``.
    Never raises for what the server does (errors, timeouts, invalid answers become the result).
    """
    op = OPERATIONS[operation]
    method = op.method_of(params)
    rpc_params = op.rpc_params(params)
    protocol = protocol or default_protocol(operation, params)
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    limit = timeout if timeout is not None else float(getattr(settings, "PLAYGROUND_TIMEOUT", 60.0))
    request = {"jsonrpc": "2.0", "method": method}
    if rpc_params is not None:
        request["params"] = jsonable(rpc_params)
    result = RunResult(
        operation=operation,
        method=method,
        target=op.target_of(params),
        protocol=protocol,
        request=request,
        outcome=ERROR,
        duration_ms=0.0,
    )
    started = time.perf_counter()

    async def emit(event: dict[str, Any], *, keep: bool = False) -> None:
        event = {**event, "at_ms": _elapsed_ms(started)}
        if keep:
            result.events.append(event)
        if on_event is not None:
            try:
                await on_event(event)
            except Exception:  # a listener that went away must not break the run
                logger.warning("playground event listener failed", exc_info=True)

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        await emit({"type": "progress", "progress": progress, "total": total, "message": message}, keep=True)

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        await emit(
            {"type": "log", "level": params.level, "logger": params.logger, "data": jsonable(params.data)},
            keep=True,
        )

    await emit({"type": "request", "operation": operation, "protocol": protocol, "request": request})
    version = protocol
    output_check: dict[str, Any] | None = None
    # Set before the client starts: its tasks (and the server's handlers) inherit the context.
    token = current_context.set(ctx)
    try:
        with anyio.fail_after(limit):
            async with Client(
                server if server is not None else gateway_server,
                mode=protocol,
                cache=None,
                logging_callback=on_log,
                log_level="debug",
                read_timeout_seconds=limit,
            ) as client:
                version = client.protocol_version
                raw = await client.session.send_request(
                    types.Request[dict[str, Any] | None, str](method=method, params=rpc_params),
                    _RAW_RESULT,
                    progress_callback=on_progress,
                )
                result.duration_ms = _elapsed_ms(started)
                result.response = jsonable(raw)
                if method == "tools/call" and isinstance(raw, dict):
                    tool = (rpc_params or {}).get("name", "")
                    output_check = await _check_output(client, tool, result.response)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes the run's error
        if _cancelled(exc):
            raise
        _record_failure(result, _leaf(exc), limit)
    finally:
        current_context.reset(token)
    if not result.duration_ms:
        result.duration_ms = _elapsed_ms(started)
    result.protocol = version

    if result.response is not None:
        result.validation["schema"] = validate_result(method, version, result.response)
        if output_check is not None:
            result.validation["output_schema"] = output_check
        if not is_valid(result.validation):
            result.outcome = INVALID
        elif result.response.get("isError") is True:
            result.outcome = ERROR
        else:
            result.outcome = OK
        await emit(_final("response", result))
    else:
        result.outcome = INVALID if result.validation.get("schema", {}).get("valid") is False else ERROR
        await emit(_final("error", result))
    return result


def _leaf(exc: BaseException) -> BaseException:
    """The first meaningful exception inside the task groups' exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = next(
            (e for e in exc.exceptions if not isinstance(e, asyncio.CancelledError)), exc.exceptions[0]
        )
    return exc


def _cancelled(exc: BaseException) -> bool:
    """Whether the caller was cancelled (that must propagate, not become a result)."""
    return isinstance(_leaf(exc), asyncio.CancelledError | KeyboardInterrupt | SystemExit)


def _record_failure(result: RunResult, exc: BaseException, limit: float) -> None:
    if isinstance(exc, MCPError):
        result.error = {
            "code": exc.error.code,
            "message": exc.error.message,
            "data": jsonable(exc.error.data),
        }
    elif isinstance(exc, TimeoutError):
        result.error = {
            "code": PLAYGROUND_TIMEOUT_CODE,
            "message": f"no answer within {limit:g}s",
            "data": None,
        }
    elif isinstance(exc, ValidationError):  # the SDK client refused the answer as not MCP
        result.error = {"code": types.INTERNAL_ERROR, "message": f"invalid response: {exc}", "data": None}
        result.validation["schema"] = {"checked": True, "valid": False, "type": None, "errors": [str(exc)]}
    else:
        logger.error("playground run of %s failed", result.method, exc_info=exc)
        result.error = {"code": types.INTERNAL_ERROR, "message": f"{type(exc).__name__}: {exc}", "data": None}


async def _check_output(client: Client, tool: str, response: dict[str, Any]) -> dict[str, Any]:
    try:
        listed, schema = await _output_schema(client, tool)
    except (MCPError, ValidationError) as exc:
        return {"checked": False, "valid": None, "errors": [], "reason": f"tools/list failed: {exc}"}
    if not listed:
        return {"checked": False, "valid": None, "errors": [], "reason": "the tool is not listed"}
    return validate_tool_output(schema, response)


def _final(kind: str, result: RunResult) -> dict[str, Any]:
    return {
        "type": kind,
        "outcome": result.outcome,
        "duration_ms": result.duration_ms,
        "protocol": result.protocol,
        "response": result.response,
        "error": result.error,
        "validation": result.validation,
    }
