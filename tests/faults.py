"""Private PostgreSQL and Redis instances for fault tests: started on their own free ports inside
the test, stopped, killed and restarted by it. The machine's shared services are never touched.

Use the fixtures ``private_redis`` and ``private_postgres`` (``tests/conftest.py``)::

    def test_outage(private_redis, live_server_factory):
        server = live_server_factory.start(env={"REDIS_URL": private_redis.url})
        private_redis.stop()   # an outage
        private_redis.start()  # the same port, an empty dataset (no persistence) unless persist=True

``PrivateRedis`` runs ``redis-server``; ``PrivatePostgres`` runs a throwaway cluster made with
``initdb`` (as the ``postgres`` system user when we are root: PostgreSQL refuses to run as root),
trust authentication on 127.0.0.1, one database ``omni``. Every wait is bounded.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, *, up: bool, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.1)
    raise RuntimeError(f"port {port} did not go {'up' if up else 'down'} within {timeout:g}s")


class PrivateRedis:
    """A ``redis-server`` of the test's own: ``.url``, ``.stop()``, ``.kill()``, ``.start()``."""

    def __init__(self, *, persist: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is missing: `make test` installs Debian's redis-server")
        self.binary = binary
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="omni-redis-"))
        self.persist = persist
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        args += ["--save", "", "--appendonly", "yes" if self.persist else "no", "--daemonize", "no"]
        log = (self.dir / "redis.log").open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        _wait_port(self.port, up=True)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), waiting until the port is closed."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=START_TIMEOUT)
        self.process = None
        _wait_port(self.port, up=False)

    def kill(self) -> None:
        """SIGKILL: what a crash looks like to clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=START_TIMEOUT)
        self.process = None
        _wait_port(self.port, up=False)

    def cli(self, *args: str) -> str:
        out = subprocess.run(  # noqa: S603
            ["redis-cli", "-p", str(self.port), *args],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip()

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def _postgres_bin(name: str) -> str:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if candidates:
        return candidates[-1]
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is missing: `make test` installs Debian's postgresql")
    return found


class PrivatePostgres:
    """A throwaway PostgreSQL cluster: ``.url`` (database ``omni``), ``.stop()``, ``.start()``,
    ``.restart()``. Its data survive a stop/start (an outage, not a loss)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="omni-pg-"))
        self.data = self.dir / "data"
        self.socket_dir = self.dir / "sock"
        self.socket_dir.mkdir()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            for path in (self.dir, self.socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run(
            _postgres_bin("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        conf = self.data / "postgresql.conf"
        with conf.open("a") as fh:
            fh.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.socket_dir}'\nfsync = off\n"
                "max_connections = 200\n"
            )
        self.started = False

    def _run(self, *args: str) -> None:
        command = list(args)
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(  # noqa: S603
            command, check=True, capture_output=True, timeout=120, cwd=str(self.dir)
        )

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/omni"

    def start(self) -> None:
        self._run(
            _postgres_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "pg.log"), "-w", "start"
        )
        _wait_port(self.port, up=True)
        if not self.started:
            self.started = True
            self._run(
                _postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "omni"
            )

    def stop(self, mode: str = "fast") -> None:
        """``fast`` disconnects every client; ``immediate`` is a crash (recovery on start)."""
        self._run(_postgres_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
        _wait_port(self.port, up=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        try:
            self.stop("immediate")
        except (subprocess.SubprocessError, RuntimeError):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
