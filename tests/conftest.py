"""Test infrastructure shared by every test: live server processes, committed data, Redis, browser.

``make test`` runs this suite against PostgreSQL and Redis (``DATABASE_URL``, ``REDIS_URL``; see
``scripts/test.sh``). The live-server rules are in ``tests/live.py``: read them before writing a
test that talks to a server process.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import pytest
import pytest_django.fixtures as _pytest_django_fixtures

from tests.live import CHROMIUM_ARGS, CHROMIUM_PATH, LiveServerFactory, PidFile, database_url

# Fixtures whose tests need the test database to exist but must not run inside a transaction.
LIVE_FIXTURES = frozenset({"live_server", "live_server_factory", "committed"})
CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


# --------------------------------------------------------------------------- pytest-django wiring
# pytest-django creates test databases only for tests that ask for `db`/`transactional_db`/its own
# `live_server`. A session of live tests that use only `live_server_factory` or `committed` needs
# the test database too, so those names count as database users. (pytest-django 4.14; the test
# `test_live_infra.py` fails loudly if this stops working.)
_original_get_databases_for_test = _pytest_django_fixtures._get_databases_for_test


def _get_databases_for_test(test):
    databases, serialized = _original_get_databases_for_test(test)
    if not databases and LIVE_FIXTURES & set(getattr(test, "fixturenames", ())):
        return ("default",), serialized
    return databases, serialized


_pytest_django_fixtures._get_databases_for_test = _get_databases_for_test


@pytest.fixture(autouse=True)
def _live_server_helper():
    """Replaces pytest-django's helper of the same name, which would give every test that uses a
    fixture called ``live_server`` a ``transactional_db`` — whose flush wipes committed rows."""
    yield


@pytest.fixture(autouse=True)
def _db_threads_in_test_transactions(request):
    """A test inside a transaction (pytest-django's ``db``) has rows that only its own connection
    sees, so the gateway's database work must stay on Django's thread-sensitive thread there
    (``DB_THREADS=0``). Transactional and live tests keep the production shape: omni/dbexec.py's
    thread pool with pooled connections."""
    from django.conf import settings

    marker = request.node.get_closest_marker("django_db")
    names = set(request.fixturenames)
    transactional = (
        "transactional_db" in names
        or "committed" in names
        or bool(names & LIVE_FIXTURES)
        or (marker is not None and marker.kwargs.get("transaction", False))
    )
    if ("db" not in names and marker is None) or transactional:
        yield
        return
    saved = settings.DB_THREADS
    settings.DB_THREADS = 0
    try:
        yield
    finally:
        settings.DB_THREADS = saved


def pytest_collection_modifyitems(config, items):
    """Refuse live tests that would run in a transaction (rows invisible to the server) or flush
    the database (wiping the rows other live tests committed). See tests/live.py."""
    bad = []
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        live = names & LIVE_FIXTURES
        marker = item.get_closest_marker("django_db")
        transaction = bool(marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])))
        if not live:
            if "transactional_db" in names or transaction:
                # Its flush at the end empties every table: rows that the session's live servers
                # and the audit counters (AuditSource) committed, which later tests rely on.
                bad.append(f"{item.nodeid}: uses transactional_db (use `committed` and unique rows)")
            continue
        if "transactional_db" in names or transaction:
            bad.append(
                f"{item.nodeid}: uses {sorted(live)} with transactional_db (its flush wipes committed rows)"
            )
        elif ("db" in names or marker) and live & {"live_server", "committed"}:
            bad.append(
                f"{item.nodeid}: uses {sorted(live)} with db/django_db "
                "(use `committed` instead: a server process only sees committed rows)"
            )
    if bad:
        raise pytest.UsageError(
            "tests must use `committed`, not transactional_db (nor live tests db):\n  " + "\n  ".join(bad)
        )


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """On SQLite (a plain `pytest` without DATABASE_URL) keep the test database in a file, so that
    server processes can open it too. PostgreSQL needs nothing: pytest-django makes `test_<name>`."""
    from django.db import connections

    for connection in connections.all(initialized_only=False):
        settings_dict = connection.settings_dict
        if settings_dict["ENGINE"].endswith("sqlite3"):
            test = settings_dict.setdefault("TEST", {})
            if not test.get("NAME"):
                directory = tempfile.mkdtemp(prefix="omni-test-sqlite-")
                test["NAME"] = str(Path(directory) / f"test_{connection.alias}.sqlite3")
        _TEST_DATABASE_NAMES[connection.alias] = connection.creation._get_test_db_name()


# alias -> the name of its test database, known before pytest-django creates it.
_TEST_DATABASE_NAMES: dict[str, str] = {}


# --------------------------------------------------------------------------- one session at a time
def _session_key() -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    parts = [
        db["ENGINE"],
        str(db.get("HOST")),
        str(db.get("PORT")),
        str(db.get("NAME")),
        settings.REDIS_URL or "",
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _say(config, message: str) -> None:
    """Print past pytest's output capturing (session fixtures run captured)."""
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"\n{message}", file=sys.stderr, flush=True)


@pytest.fixture(scope="session", autouse=True)
def _one_session_per_database(request):
    """Two test sessions on one database and Redis (two engineers running `make test` in one tree)
    would drop each other's test database and flush each other's Redis. The second waits here."""
    key = _session_key()
    lock_path = Path(tempfile.gettempdir()) / f"omni-tests-{key}.lock"
    with lock_path.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _say(
                request.config,
                f"another test session uses the same database and Redis: waiting for it ({lock_path})",
            )
            fcntl.flock(lock, fcntl.LOCK_EX)
        pidfile = PidFile(lock_path.with_suffix(".pids"))
        killed = pidfile.reap()
        if killed:
            _say(request.config, f"ended server processes left behind by an earlier test session: {killed}")
        yield pidfile


@pytest.fixture(scope="session", autouse=True)
def redis_flush(request, _one_session_per_database):
    """Empty the tests' Redis database once, at session start (not between tests).

    Only the database that REDIS_URL names is flushed (15 under `make test`); database 0, where
    real data usually lives, is left alone unless OMNI_TEST_FLUSH_REDIS=1.
    """
    from django.conf import settings

    if not settings.REDIS_URL:
        return
    import redis

    index = int((urlparse(settings.REDIS_URL).path or "/0").strip("/") or 0)
    if index == 0 and os.environ.get("OMNI_TEST_FLUSH_REDIS") != "1":
        _say(request.config, "REDIS_URL names Redis database 0: not flushing it (tests should use /15)")
        return
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.flushdb()
    finally:
        client.close()


# --------------------------------------------------------------------------- rate limits
# Every request of the suite comes from 127.0.0.1, so per-IP counters (anonymous requests, log-in
# attempts, the IP lockout) would be shared by every test and trip at random. The suite runs with
# generous limits; tests of the limits themselves (tests/security/) set strict ones with the
# `settings` fixture, or start their own server process with strict `RATELIMIT_*` variables.
SUITE_RATE_LIMITS = {
    "RATELIMIT_UI_PER_MINUTE": "100000",
    "RATELIMIT_API_PER_MINUTE": "100000",
    "RATELIMIT_ANON_PER_MINUTE": "100000",
    "RATELIMIT_LOGIN_PER_MINUTE": "100000",
    "LOGIN_LOCKOUT_IP_FAILURES": "100000",
}


@pytest.fixture(scope="session", autouse=True)
def _suite_rate_limits():
    from django.conf import settings

    os.environ.update(SUITE_RATE_LIMITS)  # inherited by the live server processes
    settings.RATELIMIT_DEFAULTS = {
        **settings.RATELIMIT_DEFAULTS,
        "ui_per_minute": 100000,
        "api_per_minute": 100000,
        "anon_per_minute": 100000,
        "login_per_minute": 100000,
    }
    settings.LOGIN_LOCKOUT_IP_FAILURES = 100000


# --------------------------------------------------------------------------- egress policy
# The suite's MCP servers listen on 127.0.0.1, which the egress policy refuses for organizations'
# servers: the suite allows loopback deliberately (as an operator would with MCP_EGRESS_ALLOW).
# Tests of the policy itself (tests/security/test_egress.py) set the strict policy with `settings`.
SUITE_EGRESS_ALLOW = {"MCP_EGRESS_ALLOW": "127.0.0.0/8,::1"}


@pytest.fixture(scope="session", autouse=True)
def _suite_egress_allow():
    from django.conf import settings

    os.environ.update(SUITE_EGRESS_ALLOW)  # inherited by the live server processes
    settings.MCP_EGRESS_ALLOW = SUITE_EGRESS_ALLOW["MCP_EGRESS_ALLOW"].split(",")


# --------------------------------------------------------------------------- live servers
@pytest.fixture(scope="session")
def live_server_factory(django_db_setup, _one_session_per_database, redis_flush):
    """Starts daphne processes on free ports against the test database and the tests' Redis."""
    from django.conf import settings
    from django.db import connection

    settings_dict = connection.settings_dict
    expected = _TEST_DATABASE_NAMES.get(connection.alias)
    if settings_dict["NAME"] != expected:
        raise RuntimeError(
            f"the test database is not set up (NAME={settings_dict['NAME']!r}, expected {expected!r}): "
            "refusing to point a server process at a non-test database"
        )
    env = dict(os.environ)
    for name in (
        "SECRET_KEY",
        "FIELD_ENCRYPTION_KEY",
        "OMNI_SIGNING_SECRET",
        "DATABASE_URL",
        "REDIS_URL",
        "PRIVACY_MASTER_KEY",
        "PRIVACY_MASTER_KEYS",
    ):
        env.pop(f"{name}_FILE", None)
    env.update(
        DJANGO_SETTINGS_MODULE="omni.settings",
        PYTHONUNBUFFERED="1",
        DATABASE_URL=database_url(settings_dict),
        # The same secrets as this process: what a test encrypts or signs, the server can read.
        SECRET_KEY=settings.SECRET_KEY,
        FIELD_ENCRYPTION_KEY=settings.FIELD_ENCRYPTION_KEY,
        OMNI_SIGNING_SECRET=settings.OMNI_SIGNING_SECRET,
        # The master keys that wrap the organizations' data keys (omni.privacy.crypto).
        PRIVACY_MASTER_KEYS=",".join(settings.PRIVACY_MASTER_KEYS),
        OMNI_VAR_DIR=str(settings.VAR_DIR),
    )
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    else:
        env.pop("REDIS_URL", None)
    factory = LiveServerFactory(env, pidfile=_one_session_per_database)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="session")
def live_server(live_server_factory):
    """The session's first server process: ``.url``, ``.mcp_url``, ``.restart()`` (same port)."""
    return live_server_factory.start(name="web-1")


@pytest.fixture(autouse=True)
def _privacy_key_cache():
    """Forget cached data keys between tests: a key created inside one test's rolled-back
    transaction must not be used by the next one (omni.privacy.crypto.keys)."""
    yield
    from omni.privacy.crypto import keys

    keys.forget_all()


@pytest.fixture
def committed(django_db_setup, django_db_blocker):
    """Database access without a transaction: what the test writes is committed at once, so server
    processes see it; nothing is rolled back. Create uniquely named rows (tests.live.unique_slug)."""
    with django_db_blocker.unblock():
        yield


# --------------------------------------------------------------------------- private services
@pytest.fixture
def private_redis():
    """A Redis server of this test's own on a free port (``tests/faults.py``): stop, kill and
    start it freely; the machine's shared Redis is never touched."""
    from tests.faults import PrivateRedis

    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def private_postgres():
    """A throwaway PostgreSQL cluster of this test's own on a free port (``tests/faults.py``)."""
    from tests.faults import PrivatePostgres

    server = PrivatePostgres()
    server.start()
    try:
        yield server
    finally:
        server.close()


# --------------------------------------------------------------------------- browser
@pytest.fixture
def browser():
    """Debian's Chromium driven by Playwright for Python (sync API), one per test."""
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM_PATH):
        pytest.fail(f"{CHROMIUM_PATH} is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


# --------------------------------------------------------------------------- CI: every test runs
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true a test that did not run (skip, xfail) is a failure: CI checks every test."""
    outcome = yield
    try:
        report = outcome.get_result()
    except SystemError as exc:
        # CPython 3.11 can fail in ast.parse while pytest formats a failure ("AST constructor
        # recursion depth mismatch"), which ended the whole run: report the failure plainly.
        report = _plain_failure(item, call, exc)
        outcome.force_result(report)
    if CI and report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"did not run, and CI=true requires every test to run: {reason}"


def _plain_failure(item, call, exc: BaseException):
    import traceback

    from _pytest.reports import TestReport

    error = call.excinfo.value if call.excinfo is not None else exc
    text = "".join(traceback.format_exception(error)) + f"\n(pytest could not format this failure: {exc})"
    return TestReport(
        item.nodeid, item.location, {}, "failed", text, call.when, [], call.duration, call.start, call.stop
    )


def pytest_report_header(config):
    from django.conf import settings

    db = settings.DATABASES["default"]
    where = (
        f"{db['ENGINE'].rsplit('.', 1)[-1]} {db.get('HOST') or ''}:{db.get('PORT') or ''}/{db.get('NAME')}"
    )
    return [
        f"omni: database {where} (tests use test_<name>), redis {settings.REDIS_URL or '(none)'}, CI={CI}"
    ]
