"""Helpers for tests that talk to a real server process over HTTP.

The fixtures in ``tests/conftest.py`` use these; tests normally need only the fixtures:

``live_server``
    A session-wide daphne process serving ``omni.asgi:application`` on a free port of 127.0.0.1,
    against the *test* database that pytest-django created and the tests' Redis. It has ``.url``
    (``http://127.0.0.1:PORT``), ``.mcp_url`` (``…/mcp``), ``.sse_url`` (``…/sse``), ``.port``,
    ``.restart()`` (same port), ``.kill()`` and ``.logs()``.
``live_server_factory``
    Starts more such processes: ``live_server_factory.start()`` returns a new one (two web processes
    on one database and one Redis, as in production). All of them stop at the end of the session.
``committed``
    Database access *without* a wrapping transaction: rows a test creates are committed at once
    (autocommit), so the server processes see them. Nothing is rolled back afterwards.
``browser`` / ``page``
    Debian's Chromium (``/usr/bin/chromium``, installed by ``make test``) driven by Playwright for
    Python's sync API, one browser per test; ``page.goto(f"{live_server.url}/...")``. Use them in
    plain (not ``async``) tests: the sync API refuses to run inside an event loop.

Rules for live tests, because their rows stay in the shared test database for the whole session:

* Create your own, uniquely named data: ``Organization(slug=unique_slug("acme"))``, user names
  and key names with a uuid suffix. Never rely on a table being empty or on counting all rows.
* Use ``committed`` (not ``db``): inside ``db``'s transaction the server cannot see your rows.
* Never use ``transactional_db`` (nor ``django_db(transaction=True)``), in any test: its flush at the end
  of the test empties every table and wipes the rows other live tests and session fixtures committed.
  The conftest refuses these combinations with an explanation.
* A server process only sees what is committed, and the test process does not see the server's
  in-memory state: assert through HTTP (or the database), not through Python objects.
* Redis DB 15 (``REDIS_URL=redis://127.0.0.1:6379/15`` under ``make test``) is flushed once at
  session start, not between tests: use ids from your own organization, not global key counts.

Each process logs stdout and stderr to one temporary file (``.log_path``); when a process does not
become healthy within 30 s the error shows that log.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
HEALTH_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
ASGI_APP = "omni.asgi:application"
# The platform with test-only misbehaving routes (tests/asgi_faults.py).
FAULT_APP = "tests.asgi_faults:application"
# The ASGI server of live test processes: daphne (the default, what `make run` serves), uvicorn or
# granian (what the Procfile serves). A test picks one with ``live_server_factory.start(server=...)``.
ASGI_SERVERS = ("daphne", "uvicorn", "granian")
DEFAULT_ASGI_SERVER = os.environ.get("OMNI_TEST_ASGI_SERVER", "daphne")

# Debian's Chromium for Playwright for Python (browsers cannot be downloaded here).
CHROMIUM_PATH = os.environ.get("OMNI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class LiveServerError(RuntimeError):
    """A server process did not start or did not become healthy."""


def unique_slug(prefix: str = "org") -> str:
    """A slug no other test (or earlier session) uses: ``acme-3f9c2a1b7d``."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def http_get(url: str, *, timeout: float = 5.0, headers: dict[str, str] | None = None):
    """GET ``url``; returns ``(status, headers, body bytes)`` also for 4xx/5xx answers."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (our own URL)
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def database_url(settings_dict: dict) -> str:
    """The ``DATABASE_URL`` that makes a new process use the database of ``settings_dict``.

    Used with ``django.db.connection.settings_dict`` after pytest-django created the test database,
    so ``NAME`` is the test database (``test_test``), not the one ``DATABASE_URL`` named.
    """
    engine = settings_dict["ENGINE"]
    name = settings_dict["NAME"]
    if engine.endswith("sqlite3"):
        if not name or str(name) == ":memory:" or "mode=memory" in str(name):
            raise LiveServerError("an in-memory SQLite test database cannot be shared with a server process")
        return f"sqlite:///{Path(name).resolve()}"
    if not engine.endswith(("postgresql", "postgis")):
        raise LiveServerError(f"live servers support PostgreSQL and SQLite, not {engine}")
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or ""
    host = quote(host, safe="") if host.startswith("/") else host  # a Unix socket directory
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    options = {
        key: value
        for key, value in (settings_dict.get("OPTIONS") or {}).items()
        if isinstance(value, str | int) and not isinstance(value, bool)
    }
    query = f"?{urlencode(options)}" if options else ""
    return f"postgres://{credentials}{host}{port}/{quote(name, safe='')}{query}"


def server_command(server: str, app: str, port: int, *, workers: int = 1, grace: float = 10.0) -> list[str]:
    """The command line that serves ``app`` on 127.0.0.1:``port`` with ``server`` (see ASGI_SERVERS):
    the same flags as the Procfile's ``web`` line, on a test port."""
    if server not in ASGI_SERVERS:
        raise LiveServerError(f"unknown ASGI server {server!r} (one of {', '.join(ASGI_SERVERS)})")
    binary = Path(sys.executable).with_name(server)
    prefix = [str(binary)] if binary.exists() else [sys.executable, "-m", server]
    if server == "daphne":
        return [*prefix, "-b", "127.0.0.1", "-p", str(port), app]
    if server == "uvicorn":
        return [
            *prefix,
            "--host", "127.0.0.1", "--port", str(port),
            "--loop", "uvloop", "--http", "httptools", "--lifespan", "on", "--no-access-log",
            "--timeout-graceful-shutdown", f"{grace:g}", "--workers", str(workers),
            app,
        ]  # fmt: skip
    return [
        *prefix,
        "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
        "--loop", "uvloop", "--workers", str(workers), "--workers-kill-timeout", f"{grace + 5:g}",
        app,
    ]  # fmt: skip


class PidFile:
    """The pids of the server processes of one test session, so the next session can end orphans.

    A test run that dies (SIGKILL, a crashed CI job) cannot stop its servers; they would keep
    connections to the test database open and its DROP would fail. The next session (which holds the
    same session lock, so the old one is gone) ends whatever is still listed here.
    """

    def __init__(self, path: Path):
        self.path = path

    def _read(self) -> set[int]:
        try:
            return {int(line) for line in self.path.read_text().split() if line.strip().isdigit()}
        except OSError:
            return set()

    def _write(self, pids: set[int]) -> None:
        self.path.write_text("".join(f"{pid}\n" for pid in sorted(pids)))

    def add(self, pid: int) -> None:
        self._write(self._read() | {pid})

    def remove(self, pid: int) -> None:
        self._write(self._read() - {pid})

    def reap(self) -> list[int]:
        """Kill listed pids that are still one of our servers; returns the ones it killed."""
        killed = []
        for pid in self._read():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if ASGI_APP.encode() in cmdline or FAULT_APP.encode() in cmdline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                killed.append(pid)
        self._write(set())
        return killed


class ServerProcess:
    """One ``daphne -b 127.0.0.1 -p PORT omni.asgi:application`` process (or ``server``/``app``
    given: uvicorn or granian, the fault routes of tests/asgi_faults.py), started by ``start()``."""

    def __init__(
        self,
        name: str,
        port: int,
        env: dict[str, str],
        pidfile: PidFile | None = None,
        *,
        server: str | None = None,
        app: str = ASGI_APP,
    ):
        self.name = name
        self.port = port
        self.env = env
        self.pidfile = pidfile
        self.server = server or DEFAULT_ASGI_SERVER
        self.app = app
        self.process: subprocess.Popen | None = None
        fd, path = tempfile.mkstemp(prefix=f"omni-{name}-", suffix=".log")
        os.close(fd)
        self.log_path = Path(path)
        self.starts = 0

    # ------------------------------------------------------------------ addresses
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.url}/mcp"

    @property
    def sse_url(self) -> str:
        return f"{self.url}/sse"

    def __repr__(self) -> str:
        state = f"pid {self.process.pid}" if self.running else "stopped"
        return f"<ServerProcess {self.name} {self.url} {state}>"

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self) -> list[str]:
        return server_command(self.server, self.app, self.port)

    def start(self, timeout: float = HEALTH_TIMEOUT) -> ServerProcess:
        if self.running:
            raise LiveServerError(f"{self!r} is already running")
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
            log.flush()
            self.process = subprocess.Popen(  # noqa: S603 (our own command line)
                self.command(),
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends children too
            )
        if self.pidfile:
            self.pidfile.add(self.process.pid)
        try:
            self.wait_healthy(timeout)
        except LiveServerError:
            self.stop()
            raise
        return self

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT) -> None:
        """Wait until ``GET /healthz`` answers 200; fail early when the process exits."""
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise LiveServerError(
                    f"{self.name} exited with code {code} before /healthz answered.\n{self._log_excerpt()}"
                )
            try:
                status, _, body = http_get(f"{self.url}/healthz", timeout=2.0)
                if status == 200:
                    return
                last_error = f"HTTP {status}: {body[:200]!r}"
            except OSError as exc:
                last_error = str(exc)
            time.sleep(0.1)
        raise LiveServerError(
            f"{self.name} did not answer GET /healthz with 200 within {timeout:.0f}s "
            f"(last: {last_error}).\n{self._log_excerpt()}"
        )

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM (daphne shuts down cleanly), then SIGKILL after ``timeout`` seconds."""
        self._signal_and_wait(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL: the process dies like in a crash, without closing anything."""
        self._signal_and_wait(signal.SIGKILL, STOP_TIMEOUT)

    def restart(self, *, hard: bool = False, timeout: float = HEALTH_TIMEOUT) -> ServerProcess:
        """Stop (or with ``hard=True`` kill) the process and start a new one on the same port."""
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start(timeout)

    def _signal_and_wait(self, sig: signal.Signals, timeout: float) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout)
        if self.pidfile:
            self.pidfile.remove(process.pid)

    # ------------------------------------------------------------------ output
    def logs(self) -> str:
        """Everything the process wrote to stdout and stderr (all starts)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _log_excerpt(self, limit: int = 8000) -> str:
        text = self.logs()
        if len(text) > limit:
            text = "…" + text[-limit:]
        return (
            f"----- {self.name} output ({self.log_path}) -----\n{text}\n----- end of {self.name} output -----"
        )

    def get_json(self, path: str, **kwargs):
        """GET ``path`` on this server; returns ``(status, parsed JSON)``."""
        status, _, body = http_get(f"{self.url}{path}", **kwargs)
        return status, json.loads(body)


class LiveServerFactory:
    """Starts server processes that share one environment (test database, Redis, secrets)."""

    def __init__(self, env: dict[str, str], pidfile: PidFile | None = None):
        self.env = env
        self.pidfile = pidfile
        self.servers: list[ServerProcess] = []

    def start(
        self,
        *,
        name: str | None = None,
        env: dict[str, str] | None = None,
        server: str | None = None,
        app: str = ASGI_APP,
    ) -> ServerProcess:
        """Start one more process on a new free port; ``env`` adds or overrides variables;
        ``server`` (daphne, uvicorn, granian) and ``app`` (e.g. ``FAULT_APP``) change what runs."""
        name = name or f"web-{len(self.servers) + 1}"
        port = free_port()
        env = {**self.env, "OMNI_PUBLIC_URL": f"http://127.0.0.1:{port}", **(env or {})}
        server = ServerProcess(name, port, env, self.pidfile, server=server, app=app)
        self.servers.append(server)
        server.start()
        return server

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers.clear()


@contextlib.contextmanager
def standalone_mcp_server(
    name: str,
    *extra_args: str,
    env: dict[str, str] | None = None,
    pidfile: PidFile | None = None,
    timeout: float = HEALTH_TIMEOUT,
):
    """``python -m mcp_servers.<name> --port N [extra_args]`` as a real process on a free port.

    ``env`` replaces the inherited environment (default: this process's, with
    ``DJANGO_SETTINGS_MODULE``); pass ``"--no-verify"`` in ``extra_args`` for tests that call the
    server unsigned. Yields the base URL (``http://127.0.0.1:PORT``; the MCP endpoint is ``/mcp``).
    On a start failure the test fails with the server's log. The process is stopped at the end.
    """
    import pytest

    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix=f"mcp-{name}-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", f"mcp_servers.{name}", "--port", str(port), *extra_args],
        cwd=ROOT,
        env=env if env is not None else {**os.environ, "DJANGO_SETTINGS_MODULE": "omni.settings"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    if pidfile is not None:
        pidfile.add(process.pid)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}:\n{Path(log.name).read_text()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if time.monotonic() > deadline:
                output = Path(log.name).read_text()
                pytest.fail(f"{name} did not listen on {port} within {timeout}s:\n{output}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if pidfile is not None:
            pidfile.remove(process.pid)
        log.close()
        os.unlink(log.name)
