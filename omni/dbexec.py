"""Where the async code of the gateway runs its database work: ``await run_db(fn, *args)``.

Django's async ORM (``afirst``, ``async for``) runs every query through ``sync_to_async`` with
``thread_sensitive=True``: one thread per process carries the database work of every organization,
one query after another. A slow query or a row lock that one tenant's request waits on then stops
the database work of all the others (their authentication, their catalogue builds).

With PostgreSQL and the connection pool (``DB_POOL``, the production shape) ``run_db`` runs ``fn``
on a bounded pool of threads (``DB_THREADS``, at most the pool's size) instead, each with a pooled
connection that goes back to the pool as soon as ``fn`` returns, so database calls of different
requests run side by side and one that waits holds one thread and one connection only. That is
safe for short functions that do their whole unit of work inside (no transaction or connection
state carried from one call to the next, no object that another thread's connection must see
uncommitted). Without the pool (SQLite in the embedded default: one file, one writer; or
``DB_POOL=false``) it falls back to Django's thread-sensitive executor, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

P = ParamSpec("P")
R = TypeVar("R")

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def parallel() -> bool:
    """Whether database work runs on the thread pool (pooled PostgreSQL) or on Django's one thread."""
    database = settings.DATABASES["default"]
    return (
        getattr(settings, "DB_THREADS", 0) > 0
        and database["ENGINE"] == "django.db.backends.postgresql"
        and "pool" in database.get("OPTIONS", {})
    )


def executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=settings.DB_THREADS, thread_name_prefix="omni-db")
    return _executor


def _returning_connection(fn: Callable[P, R]) -> Callable[P, R]:
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        finally:
            # Back to the pool (a pooled connection's close() returns it): a thread of this pool
            # holds a connection only while it runs a call.
            connections.close_all()

    return call


async def run_db(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run the sync database function ``fn(*args, **kwargs)`` off the event loop (see the module)."""
    if parallel():
        return await sync_to_async(_returning_connection(fn), thread_sensitive=False, executor=executor())(
            *args, **kwargs
        )
    return await sync_to_async(fn)(*args, **kwargs)
