"""The audit spool under faults, with real processes and private services (tests/faults.py):
a PostgreSQL outage under load, a web process killed with events spooled but not written, a
duplicate delivery, and ``verify_audit`` noticing an event lost from the spool or the table.

Counting rule: every tools/call carries a unique expression, and the tenant records tool-call
arguments, so each acknowledged call must have exactly one ``mcp.tools_call`` row with it.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
import redis

from tests.audit.spool_world import (
    Load,
    audited_expressions,
    audited_rows,
    call,
    expression_of,
    manage,
    prepare,
    query,
    session_for,
    wait_for_expressions,
)

pytestmark = pytest.mark.live

OUTAGE_SECONDS = 10


def _spool_key(client) -> str:
    """The spool stream of the test's database (``AUDIT_SPOOL_KEY:<database fingerprint>``)."""
    deadline = time.monotonic() + 30
    while True:
        keys = sorted(key.decode() for key in client.scan_iter("omni:audit:spool:*"))
        if keys:
            assert len(keys) == 1, keys  # one database behind this private Redis
            return keys[0]
        assert time.monotonic() < deadline, "no spool stream in Redis"
        time.sleep(0.1)


def _env(factory, **extra: str) -> dict[str, str]:
    return {**factory.env, **extra}


def _assert_once_each(acked: list[str], rows: list[str]) -> None:
    counts = Counter(rows)
    missing = [expression for expression in acked if counts[expression] == 0]
    doubled = {expression: count for expression, count in counts.items() if count > 1}
    assert not missing, f"{len(missing)} acknowledged calls were not audited: {missing[:10]}"
    assert not doubled, f"audited more than once: {list(doubled.items())[:10]}"


def test_a_postgres_outage_under_load_loses_and_doubles_no_acknowledged_call(
    private_postgres, private_redis, live_server_factory
):
    extra = {
        "DATABASE_URL": private_postgres.url,
        "REDIS_URL": private_redis.url,
        "AUDIT_SPOOL_RETRY_MAX": "1",
        "AUDIT_SPOOL_BATCH": "50",
    }
    env = _env(live_server_factory, **extra)
    slug, key = prepare(env)
    web1 = live_server_factory.start(env=extra)
    web2 = live_server_factory.start(env=extra)
    load = Load([web1.mcp_url, web2.mcp_url], key, workers=4, max_calls=1500)
    try:
        load.start()
        load.wait_acked(40)
        load.phase = "outage"
        private_postgres.stop()
        time.sleep(OUTAGE_SECONDS)  # the load goes on against a database that is down
        load.phase = "after"
        private_postgres.start()
        load.wait_acked(len(load.acked) + 40, timeout=120)
        load.stop()
        print(f"acknowledged per phase: {load.by_phase}, failed calls: {len(load.failed)}")
        # The web processes' own writers catch up once the database is back.
        rows = wait_for_expressions(private_postgres.url, slug, set(load.acked))
    finally:
        load.stop()
        web1.stop()
        web2.stop()
    _assert_once_each(load.acked, rows)
    report = manage(env, "verify_audit", check=False)
    assert report.returncode == 0, report.stdout + report.stderr
    assert "0 lost" in report.stdout and "OK:" in report.stdout


def _hold_chain_head_lock(database_url: str) -> psycopg.Connection:
    """A transaction that locks the chain head: every writer waits on it."""
    conn = psycopg.connect(database_url, autocommit=False)
    conn.execute("SELECT last_seq FROM audit_auditchainhead WHERE id = 1 FOR UPDATE")
    return conn


def test_events_of_a_killed_process_are_written_by_another_one_redis(
    private_postgres, private_redis, live_server_factory
):
    extra = {"DATABASE_URL": private_postgres.url, "REDIS_URL": private_redis.url}
    env = _env(live_server_factory, **extra)
    slug, key = prepare(env)
    doomed = live_server_factory.start(env={**extra, "AUDIT_SPOOL_CLAIM_IDLE": "600"})
    session = session_for(doomed.mcp_url, key)
    assert call(doomed.mcp_url, key, session, "1+1")  # the catalogue is built before the lock
    lock = _hold_chain_head_lock(private_postgres.url)
    try:
        acked = [f"{n}+1000" for n in range(12) if call(doomed.mcp_url, key, session, f"{n}+1000")]
        assert len(acked) == 12
        client = redis.Redis.from_url(private_redis.url)
        # Read by the doomed process's writer (pending, unacknowledged), which waits on the lock.
        deadline = time.monotonic() + 30
        while client.xpending(_spool_key(client), "omni-audit-writers")["pending"] < 1:
            assert time.monotonic() < deadline, "the writer never read the spooled events"
            time.sleep(0.1)
        doomed.kill()
    finally:
        lock.rollback()
        lock.close()
    # None of the events acknowledged while the chain was locked was written by the dead process
    # (the warm-up call's own event may have been, before the lock).
    assert not set(audited_expressions(private_postgres.url, slug)) & set(acked)
    heir = live_server_factory.start(env={**extra, "AUDIT_SPOOL_CLAIM_IDLE": "1"})
    try:
        # Its writer starts with its first event; then it takes over the dead writer's entries.
        assert call(heir.mcp_url, key, session_for(heir.mcp_url, key), "7+7")
        rows = wait_for_expressions(private_postgres.url, slug, set(acked))
    finally:
        heir.stop()
    _assert_once_each(acked, rows)
    assert manage(env, "verify_audit", check=False).returncode == 0


def test_events_of_a_killed_process_are_written_by_another_one_embedded(live_server_factory):
    """The embedded default (SQLite, no Redis): the spool file of the killed process is taken over."""
    scratch = Path(tempfile.mkdtemp(prefix="omni-spool-embedded-"))
    database_url = f"sqlite:///{scratch / 'omni.sqlite3'}"
    extra = {"DATABASE_URL": database_url, "REDIS_URL": "", "OMNI_VAR_DIR": str(scratch / "var")}
    env = _env(live_server_factory, **extra)
    slug, key = prepare(env)
    doomed = live_server_factory.start(env=extra)
    session = session_for(doomed.mcp_url, key)
    assert call(doomed.mcp_url, key, session, "1+1")  # the catalogue is built (it writes tool pins)
    # A write lock on the database: the writer cannot write, the gateway still reads.
    lock = sqlite3.connect(database_url[len("sqlite:///") :], timeout=30, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    try:
        acked = [f"{n}+2000" for n in range(8) if call(doomed.mcp_url, key, session, f"{n}+2000")]
        assert len(acked) == 8
        spool_files = list((scratch / "var" / "audit-spool").rglob("*.wal"))
        assert spool_files and any(path.stat().st_size > 0 for path in spool_files)
        doomed.kill()
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    # Nothing acknowledged under the lock was written ("1+1", before the lock, may have been).
    assert not set(audited_expressions(database_url, slug)) & set(acked)
    heir = live_server_factory.start(env=extra)
    try:
        assert call(heir.mcp_url, key, session_for(heir.mcp_url, key), "2+2")
        rows = wait_for_expressions(database_url, slug, set(acked))
    finally:
        heir.stop()
    _assert_once_each(acked, rows)
    report = manage(env, "verify_audit", check=False)
    assert report.returncode == 0, report.stdout + report.stderr


def test_duplicates_are_stored_once_and_verify_reports_lost_events(
    private_postgres, private_redis, live_server_factory, request
):
    extra = {
        "DATABASE_URL": private_postgres.url,
        "REDIS_URL": private_redis.url,
        "AUDIT_SPOOL_WRITER": "false",
    }
    env = _env(live_server_factory, **extra)
    slug, key = prepare(env)
    web = live_server_factory.start(env=extra)
    request.addfinalizer(web.stop)
    session = session_for(web.mcp_url, key)
    acked = [f"{n}+3000" for n in range(6) if call(web.mcp_url, key, session, f"{n}+3000")]
    assert len(acked) == 6
    client = redis.Redis.from_url(private_redis.url)
    spool_key = _spool_key(client)
    entries = client.xrange(spool_key)
    assert len(entries) >= 6  # nobody writes: everything waits in the stream
    # A second delivery of the first event: stored once.
    first_id, first_fields = entries[0]
    client.xadd(spool_key, first_fields)
    out = manage(env, "audit_writer", "--once", "--claim-idle", "1").stdout
    assert "duplicates skipped 1" in out, out
    rows = audited_expressions(private_postgres.url, slug)
    _assert_once_each(acked, rows)
    ok = manage(env, "verify_audit", check=False)
    assert ok.returncode == 0 and "0 lost" in ok.stdout, ok.stdout

    # An event dropped from the spool before it was written: verify_audit names its number.
    more = [f"{n}+4000" for n in range(5) if call(web.mcp_url, key, session, f"{n}+4000")]
    assert len(more) == 5
    victims = []
    for entry_id, fields in client.xrange(spool_key):
        event = json.loads(fields[b"e"])
        if expression_of(private_postgres.url, event["v"]["data"].get("arguments")) == "2+4000":
            victims.append((entry_id, event))
    ((victim_id, victim),) = victims
    client.xdel(spool_key, victim_id)
    manage(env, "audit_writer", "--once")
    lost = manage(env, "verify_audit", check=False)
    assert lost.returncode == 1, lost.stdout
    assert f"source {victim['src']} [lost] events {victim['n']} " in lost.stdout, lost.stdout
    assert "1 lost" in lost.stdout

    # A row deleted from the table (triggers disabled): the chain and the numbering both see it.
    with psycopg.connect(private_postgres.url, autocommit=True) as conn:
        conn.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        (victim_pk,) = [
            pk for pk, expression in audited_rows(private_postgres.url, slug) if expression == "1+4000"
        ]
        conn.execute("DELETE FROM audit_auditevent WHERE id = %s", (victim_pk,))
        conn.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
    deleted = manage(env, "verify_audit", check=False)
    assert deleted.returncode == 1
    assert "[gap]" in deleted.stdout and "2 lost" in deleted.stdout, deleted.stdout
    assert query(private_postgres.url, "SELECT count(*) FROM audit_auditdeadletter") == [(0,)]
