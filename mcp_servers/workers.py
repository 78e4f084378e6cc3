"""A bounded pool of worker processes for the built-in servers' CPU-heavy steps.

The built-in servers run inside the gateway's web process (the embedded default), on the event loop
that serves every organization. A tool's computation — ranking notes, an analytics query, a JSON
Schema check, a regex scan — must not hold that loop (or the GIL) for long, so it runs here instead:

* a ``pebble.ProcessPool`` of ``TOOL_WORKERS`` processes started by ``forkserver`` (never ``fork``
  from a threaded web process); the modules a task needs are preloaded in the fork server, so a
  replaced worker starts in milliseconds;
* each worker has an address-space limit (``RLIMIT_AS`` = ``TOOL_WORKER_MEMORY_MB``) and, per task, a
  CPU-time limit (``RLIMIT_CPU`` raised to *used so far* + ``TOOL_WORKER_CPU_SECONDS``, so the limit
  is per call, not per worker lifetime);
* each call has a wall-clock timeout (``TOOL_WORKER_TIMEOUT_SECONDS``, counted from when a worker
  picks it up): pebble kills the overrunning worker and starts a new one;
* at most ``TOOL_WORKERS * TOOL_WORKER_QUEUE_PER_WORKER`` calls wait or run at once; one more is
  refused at once rather than queued without bound.

A call over any limit is a ``ToolError`` naming the limit and its setting (the client gets an
``isError`` result). Only plain data crosses to a worker (arguments, rows, texts): database access
stays in the parent, in the async ORM. ``run(fn, *args)`` takes a module-level function (pickled by
reference); ``offloaded(fn)`` makes an async tool that runs ``fn`` in the pool.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import functools
import logging
import math
import multiprocessing
import multiprocessing.context
import os
import resource
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import popen_forkserver
from typing import Any, TypeVar

import pebble
from mcp.server.mcpserver.exceptions import ToolError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Imported once in the fork server, so every worker (and every replacement) starts with them loaded.
PRELOAD = (
    "mcp_servers.workers",
    "mcp_servers.utilities.calc",
    "mcp_servers.utilities.encoding",
    "mcp_servers.utilities.jsontool",
    "mcp_servers.utilities.text",
    "mcp_servers.utilities.timecalc",
    "mcp_servers.utilities.units",
    "mcp_servers.knowledge.search",
    "mcp_servers.analytics.ops",
    "mcp_servers.analytics.tables",
)


@dataclass(frozen=True)
class WorkerLimits:
    workers: int = 2
    cpu_seconds: int = 10
    memory_mb: int = 1024
    timeout: float = 15.0
    queue_per_worker: int = 16
    # The JSON Schema budget of omni.security.schemas, handed to workers (they do not load Django).
    schema_budget: tuple[int, int, int] | None = None

    @property
    def capacity(self) -> int:
        return self.workers * self.queue_per_worker


def limits_from_settings() -> WorkerLimits:
    """The ``TOOL_WORKER*`` settings (the defaults above when Django is not configured)."""
    try:
        from django.conf import settings

        return WorkerLimits(
            workers=settings.TOOL_WORKERS,
            cpu_seconds=settings.TOOL_WORKER_CPU_SECONDS,
            memory_mb=settings.TOOL_WORKER_MEMORY_MB,
            timeout=settings.TOOL_WORKER_TIMEOUT_SECONDS,
            queue_per_worker=settings.TOOL_WORKER_QUEUE_PER_WORKER,
            schema_budget=(settings.SCHEMA_MAX_STEPS, settings.SCHEMA_MAX_REFS, settings.SCHEMA_MAX_ERRORS),
        )
    except Exception:  # Django not configured
        return WorkerLimits()


class WorkerMemoryExceeded(Exception):
    """Raised in a worker when a task ran out of its address space (pickled back to the parent)."""


# --------------------------------------------------------------------------- inside a worker
def _initialize(memory_bytes: int, schema_budget: tuple[int, int, int] | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops the pool
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    if schema_budget is not None:
        from omni.security import schemas

        schemas.set_default_budget(schemas.SchemaBudget(*schema_budget))


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _call(function: Callable[..., T], args: tuple, kwargs: dict, cpu_seconds: int) -> T:
    # RLIMIT_CPU counts the worker's whole life: allow this task cpu_seconds more than used so far.
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(_cpu_used()) + cpu_seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    try:
        return function(*args, **kwargs)
    except MemoryError:
        raise WorkerMemoryExceeded() from None


def _ready() -> bool:
    return True


# --------------------------------------------------------------------------- process start
class _WorkerPopen(popen_forkserver.Popen):
    """Starts a worker without re-running the parent's ``__main__`` in it.

    multiprocessing re-imports the main script in every child it starts by spawn or forkserver (for
    pickled references to ``__main__``); for the web process that script is daphne's or uvicorn's,
    whose import is slow and not ours to run in a worker. Our tasks are module-level functions of
    importable modules, so the main module is hidden while the start-up data is gathered.
    """

    def _launch(self, process_obj: Any) -> None:
        main = sys.modules["__main__"]
        saved = {name: main.__dict__[name] for name in ("__file__", "__spec__") if name in main.__dict__}
        main.__dict__.pop("__file__", None)
        main.__dict__["__spec__"] = None
        try:
            super()._launch(process_obj)
        finally:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)


class _WorkerProcess(multiprocessing.context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        return _WorkerPopen(process_obj)


class _WorkerContext(multiprocessing.context.ForkServerContext):
    Process = _WorkerProcess


# --------------------------------------------------------------------------- the pool
class _Pool:
    def __init__(self, limits: WorkerLimits) -> None:
        self.limits = limits
        self.pid = os.getpid()
        context = _WorkerContext()
        context.set_forkserver_preload(list(PRELOAD))
        self.pool = pebble.ProcessPool(
            max_workers=limits.workers,
            initializer=_initialize,
            initargs=(limits.memory_mb * 1024 * 1024, limits.schema_budget),
            context=context,
        )
        self.in_flight = 0
        self.lock = threading.Lock()
        self.started = threading.Event()
        self._start_lock = threading.Lock()

    def start(self) -> None:
        """Start the fork server and the workers (blocking: seconds on a busy machine, so never on
        an event loop). pebble starts them on the first ``schedule``; later replacements of killed
        workers happen in pebble's own manager thread."""
        with self._start_lock:
            if not self.started.is_set():
                self.pool.schedule(_ready).result(timeout=120)
                self.started.set()

    def stop(self) -> None:
        self.pool.stop()
        self.pool.join(timeout=5)


_pool: _Pool | None = None
_pool_lock = threading.Lock()


def _get_pool() -> _Pool:
    global _pool
    with _pool_lock:
        if _pool is None or _pool.pid != os.getpid():
            _pool = _Pool(limits_from_settings())
        return _pool


def _discard(pool: _Pool) -> None:
    global _pool
    with _pool_lock:
        if _pool is pool:
            _pool = None
    with contextlib.suppress(Exception):
        pool.stop()


def warm_up() -> None:
    """Start the pool in a background thread now, so the first tool call does not wait for it."""
    pool = _get_pool()
    if not pool.started.is_set():
        starter = threading.Thread(
            target=_start_quietly, args=(pool,), name="omni-tool-pool-start", daemon=True
        )
        starter.start()


def _start_quietly(pool: _Pool) -> None:
    try:
        pool.start()
    except Exception:
        logger.exception("the tool worker pool did not start")


def shutdown() -> None:
    """Stop the pool's workers (at exit; tests that change the limits call it to start afresh)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None and pool.pid == os.getpid():
        pool.stop()


atexit.register(shutdown)


def _limit_error(label: str, limits: WorkerLimits, exc: BaseException) -> ToolError:
    if isinstance(exc, concurrent.futures.TimeoutError):
        return ToolError(
            f"{label} was stopped: it ran longer than {limits.timeout:g} s "
            "(the per-call time limit TOOL_WORKER_TIMEOUT_SECONDS)"
        )
    if isinstance(exc, WorkerMemoryExceeded):
        return ToolError(
            f"{label} was stopped: it needed more than {limits.memory_mb} MB of memory "
            "(the per-call memory limit TOOL_WORKER_MEMORY_MB)"
        )
    code = getattr(exc, "exitcode", None)
    if code in (-signal.SIGXCPU, -signal.SIGKILL):
        return ToolError(
            f"{label} was stopped: it used more than {limits.cpu_seconds} s of CPU time "
            "(the per-call CPU limit TOOL_WORKER_CPU_SECONDS)"
        )
    return ToolError(
        f"{label} failed: its worker process ended unexpectedly (exit code {code}; over the "
        f"{limits.memory_mb} MB memory limit TOOL_WORKER_MEMORY_MB?)"
    )


async def run(function: Callable[..., T], *args: Any, label: str | None = None, **kwargs: Any) -> T:
    """``function(*args, **kwargs)`` in a worker process, within the limits; ``ToolError`` when over one.

    ``function`` must be a module-level function; arguments and result must pickle (plain data,
    pydantic models). A ``ToolError`` raised by ``function`` reaches the caller unchanged.
    """
    name = label or getattr(function, "__name__", "the tool")
    pool = await _started_pool(name)
    limits = pool.limits
    with pool.lock:
        if pool.in_flight >= limits.capacity:
            raise ToolError(
                f"{name} was refused: the tool worker pool is busy ({limits.capacity} calls running or "
                "waiting, TOOL_WORKERS x TOOL_WORKER_QUEUE_PER_WORKER); try again shortly"
            )
        pool.in_flight += 1
    try:
        try:
            future = pool.pool.schedule(
                _call, args=(function, args, kwargs, limits.cpu_seconds), timeout=limits.timeout
            )
        except RuntimeError as exc:  # the pool broke since it started: a new one next time
            _discard(pool)
            raise ToolError(f"{name} failed: the tool worker pool is not available ({exc})") from None
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()  # a running task's worker is stopped and replaced
            raise
        except (concurrent.futures.TimeoutError, WorkerMemoryExceeded, pebble.ProcessExpired) as exc:
            logger.warning("tool work %s stopped: %r", name, exc)
            raise _limit_error(name, limits, exc) from None
        except BrokenProcessPool as exc:
            _discard(pool)
            raise ToolError(f"{name} failed: the tool worker pool broke ({exc})") from None
    finally:
        with pool.lock:
            pool.in_flight -= 1


async def _started_pool(name: str) -> _Pool:
    """The pool, started (in a thread, never on the loop); a pool that fails to start is replaced once."""
    for attempt in range(2):
        pool = _get_pool()
        if pool.started.is_set():
            return pool
        try:
            await asyncio.to_thread(pool.start)
            return pool
        except Exception as exc:
            logger.exception("the tool worker pool did not start (attempt %d)", attempt + 1)
            _discard(pool)
            error = exc
    raise ToolError(f"{name} failed: the tool worker pool could not start ({error})")


def offloaded(function: Callable[..., T]) -> Callable[..., Any]:
    """An async tool with ``function``'s name, signature and docstring that runs it in the pool.

    Register the result (``server.add_tool(offloaded(fn))``); ``function`` itself stays the module's
    attribute, so it pickles by reference.
    """

    @functools.wraps(function)
    async def tool(*args: Any, **kwargs: Any) -> Any:
        return await run(function, *args, **kwargs)

    return tool
