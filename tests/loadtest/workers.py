"""Real Celery worker processes for the load tests: each consumes a private queue with the solo
pool and a prefetch of one, so a worker busy with a shard leaves the next shard to another one."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from tests.live import ROOT


class Workers:
    def __init__(self, env: dict[str, str], queue: str, count: int):
        self.env = {**env, "LOADTEST_QUEUE": queue}
        self.queue = queue
        self.names = [f"lt{i}-{uuid.uuid4().hex[:6]}@localhost" for i in range(count)]
        self.processes: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def start(self) -> Workers:
        for name in self.names:
            fd, path = tempfile.mkstemp(prefix="omni-lt-worker-", suffix=".log")
            self.logs.append(Path(path))
            self.processes.append(
                subprocess.Popen(  # noqa: S603 (our own command line)
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "omni",
                        "worker",
                        "--pool",
                        "solo",
                        "--prefetch-multiplier",
                        "1",
                        "-Q",
                        self.queue,
                        "-n",
                        name,
                        "-l",
                        "info",
                        "--without-gossip",
                        "--without-mingle",
                    ],
                    cwd=ROOT,
                    env=self.env,
                    stdout=fd,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            )
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        from omni.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    pytest.fail(f"a Celery worker exited with {process.returncode}:\n{self.output()}")
            replies = app.control.ping(destination=self.names, timeout=1.0) or []
            if {name for reply in replies for name in reply} >= set(self.names):
                return
            time.sleep(0.2)
        pytest.fail(f"the Celery workers did not answer a ping within {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return "\n".join(f"----- {log}\n{log.read_text(errors='replace')[-6000:]}" for log in self.logs)

    def stop(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self.logs:
            with contextlib.suppress(OSError):
                log.unlink()
