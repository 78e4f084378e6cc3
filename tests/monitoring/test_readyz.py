"""/readyz with real processes: ready on the healthy live server; 503 naming `database`, `redis`
or `keys` when a private PostgreSQL or Redis is stopped or the encryption key is wrong; ready
again once the service is back (the process heals without a restart)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psycopg
from cryptography.fernet import Fernet

from tests.live import ROOT, http_get

CHECKS = {"database", "migrations", "keys", "redis", "draining"}


def readyz(server) -> tuple[int, dict]:
    status, headers, body = http_get(f"{server.url}/readyz", timeout=15)
    assert headers["Content-Type"] == "application/json"
    return status, json.loads(body)


def wait_readyz(server, want: int, tries: int = 60) -> dict:
    """Poll /readyz until it answers ``want`` (at most ``tries`` probes, 0.25 s apart)."""
    body: dict = {}
    for _ in range(tries):
        status, body = readyz(server)
        if status == want:
            return body
        time.sleep(0.25)
    raise AssertionError(f"/readyz never answered {want}; last body: {body}")


def manage(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_ready_on_the_healthy_live_server(live_server):
    status, body = readyz(live_server)
    assert status == 200, body
    assert body["status"] == "ready"
    assert set(body["checks"]) == CHECKS
    for name, check in body["checks"].items():
        assert check["ok"] is True, name
        assert isinstance(check["ms"], int | float)
    assert "failing" not in body
    assert body["checks"]["redis"].get("configured", True) is bool(os.environ.get("REDIS_URL"))
    status, _, liveness = http_get(f"{live_server.url}/healthz")
    assert (status, json.loads(liveness)) == (200, {"status": "ok"})


def test_database_and_redis_outages_are_named_and_heal(private_postgres, private_redis, live_server_factory):
    env = {"DATABASE_URL": private_postgres.url, "REDIS_URL": private_redis.url}
    manage({**live_server_factory.env, **env}, "migrate", "--noinput", "-v", "0")
    server = live_server_factory.start(name="readyz-faults", env=env)
    body = wait_readyz(server, 200)
    assert body["checks"]["redis"]["ok"] is True and "configured" not in body["checks"]["redis"]

    private_postgres.stop()
    status, body = readyz(server)
    assert status == 503, body
    assert body["status"] == "unavailable"
    assert body["failing"] == ["database"]
    assert body["checks"]["database"]["ok"] is False and body["checks"]["database"]["error"]
    assert body["checks"]["redis"]["ok"] is True  # only the broken part is named
    private_postgres.start()
    wait_readyz(server, 200)

    private_redis.stop()
    status, body = readyz(server)
    assert status == 503, body
    assert body["failing"] == ["redis"]
    assert body["checks"]["database"]["ok"] is True
    private_redis.start()
    wait_readyz(server, 200)
    server.stop()


def test_a_wrong_encryption_key_or_missing_migrations_are_named(private_postgres, live_server_factory):
    env = {**live_server_factory.env, "DATABASE_URL": private_postgres.url}
    env.pop("REDIS_URL", None)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "rotate_signing_key")  # a stored secret, encrypted with the right key

    # The database restored on a machine whose FIELD_ENCRYPTION_KEY differs.
    wrong = live_server_factory.start(
        name="readyz-wrong-key",
        env={
            "DATABASE_URL": private_postgres.url,
            "REDIS_URL": "",
            "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        },
    )
    status, body = readyz(wrong)
    assert status == 503, body
    assert body["failing"] == ["keys"]
    assert "FIELD_ENCRYPTION_KEY" in body["checks"]["keys"]["error"]
    wrong.stop()

    # Code newer than the database: a migration of the code is not recorded as applied.
    with psycopg.connect(private_postgres.url, autocommit=True) as conn:
        conn.execute("DELETE FROM django_migrations WHERE app = 'gateway'")
    behind = live_server_factory.start(
        name="readyz-behind", env={"DATABASE_URL": private_postgres.url, "REDIS_URL": ""}
    )
    status, body = readyz(behind)
    assert status == 503, body
    assert body["failing"] == ["migrations"]
    assert any(name.startswith("gateway.") for name in body["checks"]["migrations"]["unapplied"])
    behind.stop()
