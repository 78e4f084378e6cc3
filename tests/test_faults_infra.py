"""The private-service fixtures of tests/faults.py really start, stop and restart their servers."""

from __future__ import annotations

import psycopg
import pytest
import redis


def test_private_redis_stops_and_starts(private_redis):
    client = redis.Redis.from_url(private_redis.url, socket_timeout=2)
    client.set("k", "v")
    assert client.get("k") == b"v"
    private_redis.stop()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(private_redis.url, socket_timeout=2).ping()
    private_redis.start()
    # No persistence: a restarted Redis is empty, like a production Redis without AOF/RDB.
    assert redis.Redis.from_url(private_redis.url, socket_timeout=2).get("k") is None


def test_private_postgres_survives_restart(private_postgres):
    with psycopg.connect(private_postgres.url, autocommit=True) as conn:
        conn.execute("create table t (x int)")
        conn.execute("insert into t values (7)")
    private_postgres.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(private_postgres.url, connect_timeout=2)
    private_postgres.start()
    with psycopg.connect(private_postgres.url) as conn:
        assert conn.execute("select x from t").fetchone() == (7,)
