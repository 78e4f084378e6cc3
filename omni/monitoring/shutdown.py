"""Graceful shutdown of a web process, for every ASGI server we run under.

``ProcessLifecycle`` wraps the whole ASGI application (``omni/asgi.py``). It counts the HTTP
requests in flight and turns "the server was told to stop" into the calls of ``omni.lifecycle``:

* ``start_draining()`` as soon as shutdown begins: long-lived streams end cleanly at their next
  chance, ``/readyz`` answers 503 ``draining`` (load balancers stop sending traffic), ordinary
  requests in flight go on;
* ``run_drain_hooks()`` once the requests in flight have finished, or the grace period
  (``OMNI_SHUTDOWN_GRACE_SECONDS``) has passed, before the process exits.

It also starts the process's background work once, at the lifespan start-up or on the first
request: the heartbeat and the in-process scheduler (``omni/monitoring/health/runtime.py``), and
counts the requests served for the heartbeat.

How shutdown begins depends on the server:

* **granian** sends the ASGI ``lifespan.shutdown`` as soon as it stops accepting: we drain there.
* **uvicorn** sends ``lifespan.shutdown`` only after its own wait for open connections, so a
  long-lived stream would hold it for the whole grace period: we also chain its SIGTERM/SIGINT
  handler (installed with ``signal.signal`` before the lifespan starts) to start draining at once.
* **daphne** sends no lifespan at all and stops the reactor on SIGTERM, cutting requests in flight.
  On the first request we chain Twisted's SIGTERM/SIGINT handler: draining starts at once and the
  reactor is stopped only when the requests in flight have finished or the grace period ended.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from typing import Any

from omni import lifecycle
from omni.monitoring.health import runtime as health_runtime

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class ProcessLifecycle:
    """An ASGI wrapper: requests in flight, lifespan, signal chaining (see the module docstring)."""

    def __init__(self, app: Any, *, grace_seconds: float) -> None:
        self.app = app
        self.grace_seconds = grace_seconds
        self.in_flight = 0
        self._idle: asyncio.Event | None = None
        self._chained = False
        self._hooks_ran = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if not self._chained:
            # daphne: no lifespan ever came; its signal handlers are in place by now.
            self._chain_signals(defer_previous=True)
        if not self._started:
            self._start_background()
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        health_runtime.count_request()
        self.in_flight += 1
        self._idle_event().clear()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle_event().set()

    # ------------------------------------------------------------------ lifespan
    async def _lifespan(self, scope: dict, receive: Any, send: Any) -> None:
        """Pass the lifespan on to the application, draining around its shutdown."""

        async def lifespan_receive() -> dict:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._chain_signals(defer_previous=False)
                self._start_background()
            elif message["type"] == "lifespan.shutdown":
                lifecycle.start_draining()
                await self.wait_idle()
            return message

        async def lifespan_send(message: dict) -> None:
            if message["type"] in {"lifespan.shutdown.complete", "lifespan.shutdown.failed"}:
                await self._run_hooks_once()
            await send(message)

        await self.app(scope, lifespan_receive, lifespan_send)

    # ------------------------------------------------------------------ background work
    def _start_background(self) -> None:
        """This process's heartbeat and in-process scheduler (omni/monitoring/health/runtime.py),
        once: at the lifespan start-up, or on the first request (daphne sends no lifespan)."""
        self._started = True
        try:
            health_runtime.ensure_web_started(lambda: self.in_flight)
        except Exception:
            logger.exception("the heartbeat or the in-process scheduler did not start")

    # ------------------------------------------------------------------ draining
    def _idle_event(self) -> asyncio.Event:
        if self._idle is None:
            self._idle = asyncio.Event()
            if self.in_flight == 0:
                self._idle.set()
        return self._idle

    async def wait_idle(self) -> bool:
        """Wait until no HTTP request is in flight, at most the grace period; True when idle."""
        try:
            await asyncio.wait_for(self._idle_event().wait(), self.grace_seconds)
            return True
        except TimeoutError:
            logger.warning(
                "shutdown: %d request(s) still in flight after the %.0fs grace period",
                self.in_flight,
                self.grace_seconds,
            )
            return False

    async def _run_hooks_once(self) -> None:
        if self._hooks_ran:
            return
        self._hooks_ran = True
        await lifecycle.run_drain_hooks()

    # ------------------------------------------------------------------ signals
    def _chain_signals(self, *, defer_previous: bool) -> None:
        """Start draining first on SIGTERM/SIGINT, then hand the signal to the server's handler
        (at once, or with ``defer_previous`` once idle: daphne stops the reactor right away)."""
        self._chained = True
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for signum in SIGNALS:
            try:
                previous = signal.getsignal(signum)
            except ValueError:
                return
            module = getattr(previous, "__module__", None) or ""
            if not callable(previous) or module.startswith("asyncio"):
                # Default action, or the event loop's own wake-up handler (granian's workers use
                # loop.add_signal_handler): the lifespan shutdown does the draining there.
                continue
            if defer_previous and not module.startswith("twisted"):
                # No lifespan and not daphne's reactor (e.g. a test process calling the app
                # directly): leave its handlers alone.
                continue
            try:
                signal.signal(signum, self._make_handler(previous, defer_previous))
            except ValueError:  # not the main thread
                return

    def _make_handler(self, previous: Callable, defer_previous: bool) -> Callable:
        state = {"count": 0}

        def handler(signum: int, frame: Any) -> None:
            state["count"] += 1
            lifecycle.start_draining()
            if not defer_previous or state["count"] > 1 or self._loop is None:
                previous(signum, frame)  # a second signal: no more waiting
                return
            self._loop.call_soon_threadsafe(self._deferred_stop, previous, signum)

        return handler

    def _deferred_stop(self, previous: Callable, signum: int) -> None:
        async def stop() -> None:
            started = time.monotonic()
            await self.wait_idle()
            await self._run_hooks_once()
            logger.info("shutdown: drained in %.1fs", time.monotonic() - started)
            previous(signum, None)

        asyncio.ensure_future(stop())
