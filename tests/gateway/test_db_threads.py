"""The gateway's database work does not queue behind one thread (issue 14 part 6, omni/dbexec.py).

With PostgreSQL and the connection pool, ``run_db`` runs database calls of different requests on a
bounded pool of threads, each with a pooled connection: a slow call holds one thread, not every
organization's authentication and catalogue builds. And a row lock on an API key (an admin
editing it, a long transaction) never makes authentication wait.
"""

from __future__ import annotations

import asyncio
import threading

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from omni import dbexec
from omni.tenants.models import ApiKey
from omni.tenants.services import authenticate_api_key, create_api_key
from tests.gateway import rawmcp
from tests.live import database_url

V = "2025-11-25"


def _slow_query(seconds: float) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [seconds])
    return "slow"


def _finish_order(threads: int) -> list[str]:
    """A 3 s query starts first; an authentication starts right after it. Which finishes first?"""
    saved = settings.DB_THREADS
    settings.DB_THREADS = threads
    order: list[str] = []

    async def one(name: str, fn, *args) -> None:
        await dbexec.run_db(fn, *args)
        order.append(name)

    async def both(raw: str) -> None:
        slow = asyncio.create_task(one("slow", _slow_query, 3.0))
        await asyncio.sleep(0.3)  # the slow query has started
        await one("auth", authenticate_api_key, raw)
        await slow

    try:
        from tests.gateway.world import make_tenant

        tenant = make_tenant("dbthreads", servers=())
        asyncio.run(both(tenant.key))
    finally:
        settings.DB_THREADS = saved
    return order


def test_the_production_shape_runs_database_work_on_the_pool(committed):
    """The suite runs PostgreSQL with the pool: the shape the tests below are about."""
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert "pool" in settings.DATABASES["default"]["OPTIONS"]
    assert settings.DB_THREADS > 0 and dbexec.parallel()


def test_a_slow_database_call_does_not_hold_up_another_request(committed):
    assert _finish_order(threads=4) == ["auth", "slow"]


def test_on_one_thread_the_same_calls_queue(committed):
    """The counter-test: with DB_THREADS=0 (Django's one thread-sensitive thread) the
    authentication waits for the slow query — what happened before."""
    assert _finish_order(threads=0) == ["slow", "auth"]


def test_pool_threads_give_their_connections_back(committed):
    """Each call returns its connection to the pool: many calls on few threads never exhaust it."""
    from tests.gateway.world import make_tenant

    tenant = make_tenant("dbpool", servers=())

    async def many() -> list:
        return await asyncio.gather(
            *(dbexec.run_db(authenticate_api_key, tenant.key) for _ in range(3 * settings.DB_POOL_MAX_SIZE))
        )

    pool = connection.pool
    assert pool is not None

    def in_use() -> int:
        stats = pool.get_stats()
        return stats["pool_size"] - stats["pool_available"]

    before = in_use()  # this thread's own connection, and any other thread's of the session
    results = asyncio.run(many())
    assert all(ctx is not None and ctx.org_slug == tenant.org.slug for ctx in results)
    # 30 calls on 5 threads: had a thread kept its connection, 5 more would be in use now.
    assert in_use() <= before + 1


class _RowLock:
    """Another transaction holding ``SELECT … FOR UPDATE`` on an API key's row."""

    def __init__(self, key_pk) -> None:
        self.conn = psycopg.connect(database_url(connection.settings_dict), autocommit=False)
        table = ApiKey._meta.db_table
        self.conn.execute(f'SELECT id FROM "{table}" WHERE id = %s FOR UPDATE', [key_pk])

    def release(self) -> None:
        self.conn.rollback()
        self.conn.close()


def test_a_locked_key_row_never_stalls_authentication(committed):
    from tests.gateway.world import make_tenant

    tenant = make_tenant("dblock", servers=())
    key = ApiKey.objects.get(organization=tenant.org)
    assert key.last_used_at is None  # authentication will want to record the use
    lock = _RowLock(key.pk)
    done = threading.Event()
    result: list = []

    def authenticate() -> None:
        result.append(authenticate_api_key(tenant.key))
        done.set()

    try:
        thread = threading.Thread(target=authenticate, daemon=True)
        thread.start()
        # Before SKIP LOCKED it waited for the lock to go (here: never, until released below).
        assert done.wait(20), "authentication waited for another transaction's row lock"
    finally:
        lock.release()
    assert result[0] is not None and result[0].org_slug == tenant.org.slug
    key.refresh_from_db()
    assert key.last_used_at is None  # the use was skipped while locked…
    authenticate_api_key(tenant.key)
    key.refresh_from_db()
    assert key.last_used_at is not None  # …and recorded by the next request


@pytest.mark.live
def test_a_locked_key_row_stalls_no_organization_through_the_gateway(live_server, committed):
    """Through a real web process: while another transaction holds acme's key row, acme's and
    globex's MCP requests are answered (before: acme's waited on the lock and, on Django's one
    database thread, globex's waited behind it)."""
    from tests.gateway.world import make_tenant

    acme = make_tenant("lockacme", servers=())
    globex = make_tenant("lockglobex", servers=())
    acme_key = ApiKey.objects.get(organization=acme.org)
    _other, _raw = create_api_key(globex.org, "second")
    lock = _RowLock(acme_key.pk)
    try:
        for tenant in (acme, globex):
            # post's timeout (20 s) bounds a stall; the lock is held for longer than that.
            session, _ = rawmcp.initialize(live_server.mcp_url, tenant.key, V)
            answer = rawmcp.rpc(live_server.mcp_url, tenant.key, session, "prompts/list", version=V)
            assert "greet" in {p["name"] for p in answer["result"]["prompts"]}
    finally:
        lock.release()
