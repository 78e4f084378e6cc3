"""A circuit breaker per downstream server connection (docs/gateway.md, "Circuit breaker").

After ``MCP_BREAKER_FAILURES`` consecutive transport failures or timeouts of a connection the
breaker *opens*: calls to that server fail at once with ``-32016`` naming the server, without a
network attempt. After ``MCP_BREAKER_COOLDOWN_SECONDS`` one call (or a status probe) is let through
as the *half-open trial*: its success closes the breaker, its failure opens it for another
cool-down. An error answer from the server (a JSON-RPC error, a tool error, a refusal by a
downstream limit) is an answer: it counts as a success for the breaker.

The state is shared by every process through Redis when ``REDIS_URL`` is set (a hash per
connection; the half-open trial is claimed with ``SET NX``), and process-local in the embedded
default. Redis is read at most once per ``MCP_BREAKER_SYNC_SECONDS`` per connection and process
while the breaker is closed, and written only on failures and state changes. A Redis failure never
fails a call: the process carries on with its own view.

Observers (the monitoring app's passive signals) ``subscribe`` here; the gateway never imports them.
Listeners run on the event loop and must be cheap and never raise (they are called in ``try``).
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

logger = logging.getLogger(__name__)

PREFIX = "omni:breaker:"

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

# "probe": a status probe, not refused by an open breaker (it *is* the half-open trial) and its
# outcome recorded like a call's; "test": a connection test of a form not saved yet, which the
# breaker neither refuses nor hears of; "": an ordinary call.
PROBE, TEST = "probe", "test"
bypass: contextvars.ContextVar[str] = contextvars.ContextVar("omni_breaker_bypass", default="")


@dataclass
class _State:
    failures: int = 0
    opened_at: float | None = None  # wall clock (time.time()): comparable across processes
    trial_until: float = 0.0  # a half-open trial is in flight until then (this process)
    synced: float = 0.0  # monotonic time of the last read from Redis
    name: str = ""
    org_id: int | None = None


class BreakerOpen(Exception):
    """The breaker of ``server`` is open: fail fast."""

    def __init__(self, server: str, retry_after: float, reason: str) -> None:
        self.server = server
        self.retry_after = max(0.0, retry_after)
        self.reason = reason
        super().__init__(
            f"server '{server}' is unavailable: circuit breaker open after repeated failures "
            f"({reason}); next attempt in {self.retry_after:.0f}s"
        )


# Listener(event, target, detail): event is "opened", "closed", "failure" or "success".
Listener = Callable[[str, Any, dict[str, Any]], None]
_listeners: list[Listener] = []
_states: dict[str, _State] = {}
_redis_down_until = 0.0


def subscribe(fn: Listener) -> None:
    if fn not in _listeners:
        _listeners.append(fn)


def unsubscribe(fn: Listener) -> None:
    if fn in _listeners:
        _listeners.remove(fn)


def _tell(event: str, target: Any, **detail: Any) -> None:
    for fn in list(_listeners):
        try:
            fn(event, target, detail)
        except Exception:  # an observer never breaks a call
            logger.exception("breaker listener %r failed", fn)


def key_of(target: Any) -> str:
    """Breakers are per saved server connection (its id)."""
    return str(target.connection_id)


def _applies(target: Any) -> bool:
    """A breaker guards a saved server connection. Settings not saved yet (a connection test, a
    one-off target) have none: their failures say nothing about any connection's traffic, and
    keying them by name would let unrelated unsaved targets of the same name share one."""
    return _enabled() and bypass.get() != TEST and target.connection_id is not None


def _state(target: Any, key: str) -> _State:
    state = _states.get(key)
    if state is None:
        state = _states[key] = _State(name=target.name, org_id=target.org_id)
    return state


_NAMES = ("MCP_BREAKER_FAILURES", "MCP_BREAKER_COOLDOWN_SECONDS", "MCP_BREAKER_SYNC_SECONDS", "REDIS_URL")
_conf: tuple[int, float, float, str | None] | None = None


def _settings() -> tuple[int, float, float, str | None]:
    """The breaker's settings, read once (Django's settings object is slow on the hot path);
    forgotten when a test changes one of them (``setting_changed``)."""
    global _conf
    if _conf is None:
        _conf = (
            settings.MCP_BREAKER_FAILURES,
            settings.MCP_BREAKER_COOLDOWN_SECONDS,
            settings.MCP_BREAKER_SYNC_SECONDS,
            getattr(settings, "REDIS_URL", None),
        )
    return _conf


def _forget_settings(*, setting: str, **_kwargs: Any) -> None:
    global _conf
    if setting in _NAMES:
        _conf = None


setting_changed.connect(_forget_settings)


def _threshold() -> int:
    return _settings()[0]


def _cooldown() -> float:
    return _settings()[1]


def _enabled() -> bool:
    return _settings()[0] > 0


# --------------------------------------------------------------------------- Redis (optional)
def _url() -> str | None:
    return _settings()[3]


def _redis() -> Any:
    url = _url()
    if not url or time.monotonic() < _redis_down_until:
        return None
    from omni.gateway.redis_clients import async_client

    return async_client(url, "once")


def _redis_failed(exc: BaseException) -> None:
    global _redis_down_until
    # Fall back to the process's own view for a few seconds rather than wait on every call.
    _redis_down_until = time.monotonic() + 5.0
    logger.warning("circuit breaker: Redis unavailable, using this process's state: %r", exc)


async def _sync(key: str, state: _State) -> None:
    """Adopt the shared state (at most once per MCP_BREAKER_SYNC_SECONDS while closed)."""
    now = time.monotonic()
    if now - state.synced < _settings()[2]:
        return
    client = _redis()
    if client is None:
        return
    state.synced = now
    try:
        shared = await client.hgetall(PREFIX + key)
    except Exception as exc:  # noqa: BLE001 - Redis down: keep the local view
        _redis_failed(exc)
        return
    state.failures = int(shared.get("failures", 0) or 0)
    opened = shared.get("opened")
    state.opened_at = float(opened) if opened else None


async def _claim_trial(key: str) -> bool:
    """Be the one half-open trial across processes (SET NX); True without Redis."""
    client = _redis()
    if client is None:
        return True
    try:
        return bool(await client.set(PREFIX + key + ":trial", "1", nx=True, ex=max(1, int(_cooldown()))))
    except Exception as exc:  # noqa: BLE001
        _redis_failed(exc)
        return True


# --------------------------------------------------------------------------- the breaker
async def before(target: Any) -> bool:
    """Raise ``BreakerOpen`` if the call must fail fast. Returns True when the call is the
    half-open trial (or a bypassing probe while open)."""
    if not _applies(target):
        return False
    key = key_of(target)
    state = _state(target, key)
    await _sync(key, state)
    if state.opened_at is None:
        return False
    if bypass.get():
        return True
    remaining = state.opened_at + _cooldown() - time.time()
    if remaining > 0:
        raise BreakerOpen(target.name, remaining, f"{state.failures} consecutive failures")
    # Cool-down over: one trial at a time (in this process, and across processes with Redis).
    if time.monotonic() < state.trial_until:
        raise BreakerOpen(target.name, 1.0, "a trial call is in flight")
    if not await _claim_trial(key):  # another process's trial
        raise BreakerOpen(target.name, 1.0, "a trial call is in flight")
    state.trial_until = time.monotonic() + max(target.timeout, 1.0)
    return True


async def success(target: Any) -> None:
    """The server answered: consecutive failures reset, an open breaker closes."""
    if not _applies(target):
        return
    key = key_of(target)
    state = _state(target, key)
    if state.failures == 0 and state.opened_at is None:
        return  # the common case: nothing to write
    was_open = state.opened_at is not None
    state.failures, state.opened_at, state.trial_until = 0, None, 0.0
    client = _redis()
    if client is not None:
        try:
            await client.delete(PREFIX + key, PREFIX + key + ":trial")
        except Exception as exc:  # noqa: BLE001
            _redis_failed(exc)
    if was_open:
        logger.warning("circuit breaker of server %s closed", target.name)
        _tell("closed", target)


async def failure(target: Any, kind: str, reason: str = "") -> None:
    """A transport failure or a timeout (``kind``: "unreachable" or "timeout")."""
    if not _applies(target):
        return
    key = key_of(target)
    state = _state(target, key)
    was_open = state.opened_at is not None
    trial = state.trial_until > 0
    client = _redis()
    count = state.failures + 1
    if client is not None:
        try:
            count = int(await client.hincrby(PREFIX + key, "failures", 1))
            await client.expire(PREFIX + key, int(max(_cooldown() * 10, 600)))
        except Exception as exc:  # noqa: BLE001
            _redis_failed(exc)
    state.failures = count
    _tell("failure", target, kind=kind, reason=reason)
    if count >= _threshold() or trial or was_open:
        state.opened_at = time.time()
        state.trial_until = 0.0
        if client is not None:
            try:
                await client.hset(PREFIX + key, "opened", repr(state.opened_at))
                await client.delete(PREFIX + key + ":trial")
            except Exception as exc:  # noqa: BLE001
                _redis_failed(exc)
        if not was_open:
            logger.warning(
                "circuit breaker of server %s opened after %d consecutive failures", target.name, count
            )
            _tell("opened", target, failures=count, kind=kind, reason=reason)


def is_open(connection_id: int | str) -> bool:
    """This process's view: is the breaker of the connection open (cool-down or trial pending)?"""
    state = _states.get(str(connection_id))
    return state is not None and state.opened_at is not None


def snapshot() -> dict[str, dict[str, Any]]:
    """This process's view of every breaker (metrics, diagnostics)."""
    return {
        key: {"name": s.name, "org_id": s.org_id, "failures": s.failures, "open": s.opened_at is not None}
        for key, s in _states.items()
    }


def reset() -> None:
    """Forget this process's state (tests). Redis keys expire by themselves."""
    global _redis_down_until
    _states.clear()
    _redis_down_until = 0.0
