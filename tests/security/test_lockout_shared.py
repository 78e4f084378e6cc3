"""The login lockout without Redis (the embedded default): its counters live in a file cache that
every process of the machine shares, so a lock set by one process holds in another and
``manage.py unlock_login`` (a third process) really lifts it. Each step is its own process with
no REDIS_URL and one var/ directory of the test's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
import django
django.setup()
from omni.tenants.auth import lockout

class Request:
    META = {"REMOTE_ADDR": "198.51.100.7"}

action, username, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
if action == "fail":
    for _ in range(count):
        lockout.register_failure(Request(), username)
elif action == "incr":
    from django.core.cache import caches
    from django.conf import settings
    cache = caches[settings.LOGIN_LOCKOUT_CACHE]
    cache.add("counter", 0, 600)
    for _ in range(count):
        cache.incr("counter")
from django.conf import settings
active = lockout.check(Request(), username)
print(json.dumps({"cache": settings.LOGIN_LOCKOUT_CACHE, "locked": active.subject if active else None}))
"""


def _env(var_dir: Path) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("REDIS_URL", "DATABASE_URL"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="omni.settings",
        OMNI_VAR_DIR=str(var_dir),
        LOGIN_LOCKOUT_FAILURES="3",
        LOGIN_LOCKOUT_IP_FAILURES="1000",
        PYTHONPATH=str(ROOT),
    )
    return env


def _run(env: dict[str, str], *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return _env(tmp_path / "var")


def test_unlock_login_reaches_every_process_without_redis(env):
    user = f"alice-{uuid.uuid4().hex[:8]}"
    assert _run(env, "fail", user, "2") == {"cache": "lockout", "locked": None}
    assert _run(env, "fail", user, "1")["locked"] == "username"  # 2 + 1 failures: the threshold of 3
    assert _run(env, "check", user, "0")["locked"] == "username"  # a third process sees the lock
    unlocked = subprocess.run(
        [sys.executable, "manage.py", "unlock_login", "--username", user],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unlocked.returncode == 0 and f"unlocked: {user}" in unlocked.stdout, unlocked.stderr[-3000:]
    assert _run(env, "check", user, "0")["locked"] is None  # lifted for every process


def test_concurrent_increments_are_not_lost(env):
    """Two processes incrementing one counter at the same time: every increment counts."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, "incr", "nobody", "150"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for process in processes:
        _out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err[-3000:]
    check = (
        "import django; django.setup()\n"
        "from django.core.cache import caches\n"
        "print(caches['lockout'].get('counter'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "300"
